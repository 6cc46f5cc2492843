import unittest

from invoice import invoice_total, line_total


class LineTotalTest(unittest.TestCase):
    def test_no_discount(self):
        self.assertEqual(line_total(250, 4), 1000)

    def test_percentage_discount(self):
        # discount_pct is a percentage: 10 means 10 %
        self.assertEqual(line_total(1000, 3, discount_pct=10), 2700)


class InvoiceTotalTest(unittest.TestCase):
    def test_tax_applies_after_discount(self):
        lines = [{"unit_cents": 1000, "quantity": 2, "discount_pct": 50}, {"unit_cents": 500, "quantity": 1}]
        self.assertEqual(invoice_total(lines, tax_pct=20), 1800)


if __name__ == "__main__":
    unittest.main()
