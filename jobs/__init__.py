"""Long-running work (scan, import, export, pre-annotation) run from job rows by jobs.runner."""
