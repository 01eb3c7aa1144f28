"""Group images: package specs checked by each manager's grammar, and the group admin's images."""
