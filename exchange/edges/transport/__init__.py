"""Drop-area transports: a local folder or an SFTP server, behind one small interface."""
