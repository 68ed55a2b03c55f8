"""The audit dossier of a model version and the model inventory (issue 7). Built in steps;
what exists so far:

- `coverage`: the regulatory mapping, clause by clause, from the stored check results;
- `events`: the audit events about a version up to an "as of" event, as JSON Lines whose
  hashes anyone can recompute, and their check (`verify_lines`, plain Python);
- `signing`: PAdES B-B signing with the deployment's key (settings `MODELGATE_DOSSIER_*`) and
  validation against configured trust roots;
- `inventory`: every registered model with its production version, last validation,
  unresolved findings, approval expiry and coverage, as CSV (API `inventory.csv`, command
  `export_inventory`).

The PDF dossier itself, the inventory's PDF rendering, attachments and `verify_dossier` are not
built yet: docs/design/dossier.md holds the verified plan.
"""
