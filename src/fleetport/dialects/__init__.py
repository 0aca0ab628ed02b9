"""Wire-compatible front-ends for other fleet systems' APIs, each over the same core (each one a
``fleetport.dialect.Dialect``)."""
