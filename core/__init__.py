"""The cross-stage core: the document record, the label schema, configs, errors, input readers, the CLI."""
