"""Sans-IO gateway protocol: frame kinds and body codecs, the Noise framing state machine and
the delivery-tick state machine. Nothing here touches sockets or the event loop."""
