"""Per-document stages.  Each is a plain class over Arrow batches, testable without Ray."""
