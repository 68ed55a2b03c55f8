"""The audit dossier of a model version and the model inventory (issue 7). Built in steps;
what exists so far:

- `coverage`: the regulatory mapping, clause by clause, from the stored check results;
- `inventory`: every registered model with its production version, last validation,
  unresolved findings, approval expiry and coverage, as CSV (API `inventory.csv`, command
  `export_inventory`).

The PDF dossier, the inventory's PDF rendering, attachments, signing and verification are not
built yet: docs/design/dossier.md holds the verified plan.
"""
