"""What each reviewer web page shows, computed here from the services and the models.

Views render these objects and templates only lay them out: every number, difference, verdict
and "may this person act" answer on a page comes from this package (and through it from the
same services the API uses), never from a template or a view.
"""
