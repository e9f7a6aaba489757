"""Offline region packs: station files phones load for on-device location (no server asked)."""
