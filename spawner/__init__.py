"""Spawners that apply group policy and quota: one mixin, two thin spawners."""
