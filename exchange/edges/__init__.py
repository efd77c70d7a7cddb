"""The edges: drop-area transports, durable local files, Caf outbound files, Habpps and Habtiers readers."""
