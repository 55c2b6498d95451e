"""Money beyond the day's accruals: the chart of accounts, capex and depreciation from the
capacity timeline, given (exogenous) series, contract pricing and the income statement. Pure
functions and frozen data; no SimPy."""
