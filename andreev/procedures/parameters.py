"""pymeasure Parameters the stock set lacks: lists of numbers and of tip positions."""

from __future__ import annotations

from typing import Any

from pymeasure.experiment import FloatParameter, Parameter


class FloatListParameter(Parameter):
    """A non-empty list of floats, each within [minimum, maximum] (in ``units``).

    Accepts a list/tuple of numbers or a string ``"[0.05, 0.3, 1.0]"``.
    """

    def __init__(
        self,
        name: str,
        units: str | None = None,
        minimum: float = -1e9,
        maximum: float = 1e9,
        max_length: int = 10000,
        **kwargs: Any,
    ) -> None:
        self.units = units
        self.minimum = minimum
        self.maximum = maximum
        self.max_length = max_length
        super().__init__(name, **kwargs)

    def convert(self, value: Any) -> list[float]:
        if isinstance(value, str):
            text = value.strip()
            if not (text.startswith("[") and text.endswith("]")):
                raise ValueError("expected a list of numbers like [0.05, 0.3]")
            value = [item for item in text[1:-1].split(",") if item.strip()]
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("expected a non-empty list of numbers")
        if len(value) > self.max_length:
            raise ValueError(f"expected at most {self.max_length} values, got {len(value)}")
        out = []
        for item in value:
            if isinstance(item, bool):
                raise ValueError(f"expected numbers, got {item!r}")
            try:
                number = float(item)
            except (TypeError, ValueError):
                raise ValueError(f"expected numbers, got {item!r}") from None
            if not self.minimum <= number <= self.maximum:
                raise ValueError(
                    f"value {number:g} is outside {self.minimum:g} … {self.maximum:g}"
                    + (f" {self.units}" if self.units else "")
                )
            out.append(number)
        return out


#: largest lateral tip position accepted (m, either axis): the scan range of an STM
#: piezo tube at low temperature is far smaller; beyond this a value is a unit mistake
POSITION_LIMIT = 1e-3


class PositionListParameter(Parameter):
    """A non-empty list of tip positions ``[[x, y], …]`` in metres, each coordinate
    within ±``limit``."""

    def __init__(self, name: str, limit: float = POSITION_LIMIT, **kwargs: Any) -> None:
        self.units = "m"
        self.limit = limit
        super().__init__(name, **kwargs)

    def convert(self, value: Any) -> list[tuple[float, float]]:
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("expected a non-empty list of [x, y] pairs in m")
        out = []
        for item in value:
            if not isinstance(item, list | tuple) or len(item) != 2:
                raise ValueError(f"expected [x, y] pairs, got {item!r}")
            x, y = (float(v) for v in item)
            if abs(x) > self.limit or abs(y) > self.limit:
                raise ValueError(f"position {item!r} is outside ±{self.limit:g} m")
            out.append((x, y))
        return out


def stability_parameters(
    hold: float, timeout_maximum: float
) -> tuple[FloatParameter, FloatParameter, FloatParameter]:
    """The three Parameters of a temperature's stability test, shared by every procedure
    that settles a temperature: tolerance (K; 0 = max(0.5 % T, 0.3 mK)), hold (s; the
    temperature must stay within the tolerance this long, default ``hold``) and timeout
    (s; give up settling after, 1 … ``timeout_maximum``, default 1 h)."""
    return (
        FloatParameter(
            "Stability tolerance (0 = max(0.5 % T, 0.3 mK))",
            units="K",
            minimum=0.0,
            maximum=1.0,
            default=0.0,
        ),
        FloatParameter("Stable for", units="s", minimum=0.0, maximum=36000.0, default=hold),
        FloatParameter(
            "Give up settling after",
            units="s",
            minimum=1.0,
            maximum=timeout_maximum,
            default=3600.0,
        ),
    )
