"""qcodes drivers for the lock-in, the temperature bridge and the STM controller."""
