"""Documents, labels and Label Studio: the data layer every other stage builds on."""
