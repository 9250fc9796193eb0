"""qcodes drivers for the lock-in, the temperature bridge and the STM controller.

Each driver fills one role of :mod:`andreev.instruments.roles` (procedures and the
engine see only those Protocols) and holds a :class:`~andreev.instruments.safety.
SafetyLimits` (the station's, or ``DEFAULT_LIMITS``) that it checks before anything is
written.

Private qcodes members the drivers rely on (qcodes is pinned to the minor versions
tested, because these may change without notice):

* ``sr830``: ``SR830._N_TO_VOLT``, ``_N_TO_CURR``, ``_get_input_config``,
  ``_set_input_config``, ``_set_sensitivity``, ``_change_sensitivity``;
* ``lakeshore372``: ``LakeshoreModel372Channel._channel``,
  ``LakeshoreModel372Output._input_channel_parameter_kwargs``;
* ``visa_reconnect``: ``VisaInstrument._visa_handle`` (and pyvisa-py's
  ``visalib.sessions`` / ``session.interface``, ``_pending_buffer``),
  ``Instrument._t0``.
"""
