"""andreev: acquisition for STM point-contact (Andreev) spectroscopy in a dilution fridge.

Importing the package is light on purpose: no Qt, matplotlib, qcodes or pyvisa at
module level. Sub-packages import what they need.
"""

__version__ = "0.1.0"
