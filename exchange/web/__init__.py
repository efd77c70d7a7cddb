"""The Caf operators' web console (`esat-exchange web`): Starlette, server-rendered French pages in the DSFR."""
