"""Result models of both planes: what the operations decode replies into."""
