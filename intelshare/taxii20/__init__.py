"""The TAXII 2.0 face (TAXII 2.0 CS01) for tools that speak nothing newer."""
