"""The reviewer pages. Views are thin: they read a page object from governance.pages, call a
service for each action, and render; refusals come from the services with their reasons."""
