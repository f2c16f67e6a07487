"""Reports: self-contained HTML with interactive charts, static PNG/SVG through matplotlib."""
