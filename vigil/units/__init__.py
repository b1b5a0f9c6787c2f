"""Response units: capabilities, status machine, positions (AVL)."""
