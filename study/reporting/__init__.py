"""The comparison report: context, figures, findings, HTML."""
