"""Pure declaration knowledge: models, XSDs, the rule catalogue, reference data, identifier checks."""
