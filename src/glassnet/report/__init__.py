"""Everything that draws or formats results for people: text tables, plots, the HTML report."""
