"""The stores' schema migrations, plain SQL shipped as package data."""
