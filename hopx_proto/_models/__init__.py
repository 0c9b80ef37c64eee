"""Result models of both planes (frozen attrs values decoded from the service's JSON)."""
