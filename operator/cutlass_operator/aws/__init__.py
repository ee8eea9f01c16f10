"""AWS access: sessions from each environment's credentials, the account guard, call accounting."""
