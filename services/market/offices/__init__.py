"""Registration offices (登记机构): the market-side registry of the auth organizations that register contracts."""
