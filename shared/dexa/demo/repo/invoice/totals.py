"""Invoice arithmetic. Amounts are integer cents so rounding is explicit."""


def line_total(unit_cents: int, quantity: int, discount_pct: float = 0.0) -> int:
    """Price of one invoice line after its percentage discount, rounded half up to the cent."""
    gross = unit_cents * quantity
    discount = gross * discount_pct
    return int(gross - discount + 0.5)


def invoice_total(lines: list[dict], tax_pct: float = 0.0) -> int:
    """Sum of the lines, then tax on the discounted subtotal."""
    subtotal = sum(line_total(**line) for line in lines)
    return int(subtotal * (1 + tax_pct / 100) + 0.5)
