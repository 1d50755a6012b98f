"""Reference tables that more than one service needs (regions, technical fields), loaded once from CSV."""
