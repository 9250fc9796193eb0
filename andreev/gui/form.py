"""The experiment form of ``andreev gui``: a procedure, a name and the procedure's typed
pymeasure Parameters as input fields (pymeasure's :class:`InputsWidget`).

The form gives an experiment as YAML text (``procedure``, ``name``, ``parameters``) that
is validated by :func:`andreev.procedures.experiment.experiment_from_text`, exactly as
an experiment file on the command line, and stored in the run file the same way (a
resume rebuilds the plan from it).

pymeasure shows a plain :class:`~pymeasure.experiment.Parameter` as a text field that
expects a string; the list Parameters of :mod:`andreev.procedures.parameters`
(temperatures, tip positions, outer values) get :class:`ListTextInput`, a text field
holding the list in YAML flow style (``[0.05, 0.3, 1.0]``, ``[[0, 0], [1e-7, 0]]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pymeasure.display.inputs import StringInput
from pymeasure.display.widgets import InputsWidget
from pyqtgraph.Qt import QtWidgets

from andreev.config import read_yaml
from andreev.procedures.experiment import (
    PROCEDURES,
    Experiment,
    experiment_from_text,
)
from andreev.procedures.parameters import FloatListParameter, PositionListParameter

__all__ = [
    "FORM_ORIGIN",
    "ExperimentForm",
    "ListTextInput",
    "ParameterInputs",
    "parameter_order",
]

FORM_ORIGIN = Path("(gui form)")
"""What plan lines and error messages name as the experiment's file when it was typed."""

LIST_PARAMETERS = (FloatListParameter, PositionListParameter)


class ListTextInput(StringInput):
    """A list-valued Parameter as YAML flow text; a malformed text reaches the Parameter
    as a string, whose ``convert`` then says what is wrong."""

    def setValue(self, value: Any) -> None:
        if isinstance(value, str):
            self.setText(value)
        else:
            self.setText(yaml.safe_dump(_plain(value), default_flow_style=True).strip())

    def value(self) -> Any:
        text = self.text().strip()
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text


class ParameterInputs(InputsWidget):
    """pymeasure's InputsWidget with :class:`ListTextInput` for the list Parameters."""

    _inputs: tuple[str, ...]  # parameter names, in the form's order (pymeasure's)

    def _setup_ui(self) -> None:
        objects = self._procedure.parameter_objects()
        plain = tuple(n for n in self._inputs if not isinstance(objects[n], LIST_PARAMETERS))
        all_inputs = tuple(self._inputs)
        self._inputs = plain
        try:
            super()._setup_ui()
        finally:
            self._inputs = all_inputs
        for name in all_inputs:
            if name not in plain:
                setattr(self, name, ListTextInput(objects[name]))

    def values(self) -> dict[str, Any]:
        """The fields' values by parameter name (raises ValueError naming a bad field)."""
        out = {}
        for name in self._inputs:
            element = getattr(self, name)
            try:
                out[name] = _plain(element.parameter.value)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"parameters.{name}: {exc}") from None
        return out


def parameter_order(cls: type) -> tuple[str, ...]:
    """``cls``'s Parameter names as declared: its own first (a series' outer values), then
    each base class's (the ladder, then the sweep), each in definition order."""
    from pymeasure.experiment import Parameter

    names: list[str] = []
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            if isinstance(value, Parameter) and name not in names:
                names.append(name)
    return tuple(names)


def _plain(value: Any) -> Any:
    """``value`` with tuples as lists and numpy scalars as Python numbers (for YAML)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    return value


class ExperimentForm(QtWidgets.QWidget):
    """Procedure, name and parameter fields; :meth:`experiment` validates them."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.procedure = QtWidgets.QComboBox()
        self.procedure.addItems(list(PROCEDURES))
        self.name = QtWidgets.QLineEdit("gui")
        self.name.setToolTip("prefix of the run file's name (letters, digits, _ . -)")
        self.source = QtWidgets.QLabel("")
        self.source.setWordWrap(True)
        self.scroll = QtWidgets.QScrollArea()
        self.scroll.setWidgetResizable(True)
        top = QtWidgets.QFormLayout()
        top.addRow("procedure", self.procedure)
        top.addRow("name", self.name)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.source)
        layout.addWidget(self.scroll, 1)
        self.inputs: ParameterInputs | None = None
        self.origin = FORM_ORIGIN
        self.procedure.currentTextChanged.connect(self._rebuild)
        self._rebuild(self.procedure.currentText())

    def _rebuild(self, name: str) -> None:
        cls = PROCEDURES[name]
        self.inputs = ParameterInputs(cls, parameter_order(cls))
        self.scroll.setWidget(self.inputs)
        self.origin = FORM_ORIGIN
        self.source.setText("")

    def set_experiment(self, experiment: Experiment) -> None:
        """Fill the form with ``experiment``'s procedure, name and parameter values."""
        self.procedure.setCurrentText(type(experiment.procedure).__name__)
        self._rebuild(self.procedure.currentText())
        assert self.inputs is not None
        self.inputs.set_parameters(experiment.procedure.parameter_objects())
        self.name.setText(experiment.name)
        self.origin = experiment.path
        self.source.setText(f"from {experiment.path} (edits apply)")

    def load(self, path: str | Path) -> Experiment:
        """Fill the form from an experiment YAML file (validated; raises ConfigError)."""
        _, text = read_yaml(path)
        experiment = experiment_from_text(text, path)
        self.set_experiment(experiment)
        return experiment

    def text(self) -> str:
        """The experiment as YAML text (raises ValueError naming a malformed field)."""
        assert self.inputs is not None
        data = {
            "procedure": self.procedure.currentText(),
            "name": self.name.text().strip(),
            "parameters": self.inputs.values(),
        }
        return yaml.safe_dump(data, sort_keys=False)

    def experiment(self) -> Experiment:
        """The experiment in the form, validated as an experiment file is.

        Raises:
            ConfigError: a value the procedure does not accept (file and key named).
        """
        from andreev.errors import ConfigError

        try:
            text = self.text()
        except ValueError as exc:
            key, _, problem = str(exc).partition(": ")
            raise ConfigError(self.origin, key, problem) from None
        return experiment_from_text(text, self.origin)
