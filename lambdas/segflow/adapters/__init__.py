"""Storage behind small classes: one per table or bucket concern."""
