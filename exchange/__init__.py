"""esat-exchange: the edges (transports, database, outputs) and the processing of received files."""
