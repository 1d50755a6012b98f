"""The public /dashboard page: static HTML, CSS and one script of our own, with the vendored ECharts."""
