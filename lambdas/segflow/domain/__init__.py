"""The domain, at the bottom: records, statuses, errors, ids, plan types, limits; imports no other layer."""
