"""Named checks of a recorded block design (the record of ``hw/build_overlay.tcl``, see
:func:`labkit.blockdesign.build.record_design`).

Every check is a :class:`Check` record with a stable name ``<group>.<check>`` (for example
``dma.length_width_fits_batch``), whether it passed, one sentence saying what was found, and one
sentence saying what to change (empty when it passed).  The checks are grouped by concern, one
small function per group, each returning its list of checks; :func:`run_checks` runs them all
and :func:`failed` keeps the ones that did not pass.  Every check is always reported: a check that
does not apply to a design (the IOPLL on a Zynq-7000, the DMA settings when there is no DMA cell)
passes with a message saying why it does not apply.

Tests, lab 05 and ``labkit overlay`` match on the names; the messages may be reworded freely.

The standard library and ``labkit.config`` (numpy through it); TensorFlow-free.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from ..config import CFG
from ..stream import DMA_VLNV  # the one definition of the DMA VLNV (driver, emulator, TCL params)
from ..stream import address_map

RESET_VLNV = "xilinx.com:ip:proc_sys_reset"


@dataclass(frozen=True)
class Check:
    """One named check of a block design.

    ``name``: stable id ``<group>.<check>``; ``passed``; ``message``: one sentence, what was found;
    ``fix``: one sentence, what to change (empty when passed).
    """
    name: str
    passed: bool
    message: str
    fix: str = ""

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]


def failed(checks: List[Check]) -> List[Check]:
    """The checks that did not pass (in order)."""
    return [c for c in checks if not c.passed]


def _sentence(text: str) -> str:
    text = " ".join(str(text).split())
    return text if text.endswith((".", "!", "?")) else text + "."


def _check(name: str, ok: bool, message: str, fix: str) -> Check:
    return Check(name, bool(ok), _sentence(message), "" if ok else _sentence(fix))


def _not_applicable(name: str, why: str) -> Check:
    return Check(name, True, _sentence(f"Does not apply: {why}"))


# ------------------------------------------------------------------------------------------
# reading the record
# ------------------------------------------------------------------------------------------

def _find_cell(cells: dict, vlnv_prefix: str, name: Optional[str] = None) -> Optional[str]:
    if name is not None:
        return name if name in cells and cells[name]["vlnv"].startswith(vlnv_prefix) else None
    found = [c for c, v in cells.items() if v["vlnv"].startswith(vlnv_prefix)]
    return found[0] if len(found) == 1 else None


def classifier_kind(cell: dict) -> Optional[str]:
    """What a recorded cell is: "hls" (the HLS IP, ``CFG.vlnv``), "rtl" (a module reference to
    ``CFG.rtl.top``) or None."""
    if cell["vlnv"].startswith(CFG.vlnv):
        return "hls"
    if cell.get("type") == "module" and cell.get("reference") == CFG.rtl.top:
        return "rtl"
    return None


def _reachable(record: dict, start: str) -> set:
    """Interface pins reachable from master ``start`` through interface nets and interconnects."""
    cells = record["cells"]
    by_master: Dict[str, List[str]] = {}
    for net in record["intf_nets"]:
        by_master.setdefault(net["master"], []).append(net["slave"])
    seen, todo = {start}, [start]
    while todo:
        for slave in by_master.get(todo.pop(), []):
            if slave in seen:
                continue
            seen.add(slave)
            cell = slave.split("/", 1)[0]
            if cells.get(cell, {}).get("interconnect"):
                for name, intf in cells[cell]["intfs"].items():
                    if intf["mode"] == "master" and f"{cell}/{name}" not in seen:
                        seen.add(f"{cell}/{name}")
                        todo.append(f"{cell}/{name}")
    return seen


def cell_roles(record: dict, board: str) -> Dict[str, Optional[str]]:
    """Names of the PS, DMA, classifier (HLS IP or RTL twin) and reset cells in a record (None when missing)."""
    b = CFG.board(board)
    cells = record.get("cells", {})
    return {
        "ps": _find_cell(cells, b.ps_vlnv),
        "dma": _find_cell(cells, DMA_VLNV, CFG.dma_name),
        "ip": CFG.ip_name if CFG.ip_name in cells and classifier_kind(cells[CFG.ip_name]) else None,
        "reset": _find_cell(cells, RESET_VLNV),
    }


def recorded_addresses(record: dict, board: str) -> Dict[str, tuple]:
    """Where the recorded design puts the register windows in the PS master's address space:
    ``{dma_name: (offset, range), ip_name: (offset, range)}`` (a window that is not mapped is
    left out) -- the same layout as :func:`labkit.stream.address_map` (course.ini)."""
    roles = cell_roles(record, board)
    if roles["ps"] is None:
        return {}
    space = f"{roles['ps']}/Data"
    out = {}
    for name, intf in ((CFG.dma_name, "S_AXI_LITE"), (CFG.ip_name, CFG.ip_ctrl)):
        for a in record.get("addresses", []):
            if a["space"] == space and a["slave"].startswith(f"{name}/{intf}/"):
                out[name] = (int(a["offset"], 16), int(a["range"], 16))
    return out


class _Design:
    """What every group needs: the board section, the cells and their roles, the asked-for kind."""

    def __init__(self, record: dict, board: str):
        self.record = record
        self.board = board
        self.b = CFG.board(board)
        self.cells = record.get("cells", {})
        roles = cell_roles(record, board)
        self.ps, self.dma, self.ip, self.rst = roles["ps"], roles["dma"], roles["ip"], roles["reset"]
        self.found = classifier_kind(self.cells[self.ip]) if self.ip else None
        self.kind = record.get("ip_kind") or self.found or "hls"
        self.intf_nets = {(n["master"], n["slave"]) for n in record.get("intf_nets", [])}
        self.addresses = record.get("addresses", [])

    def mapped(self, space: str, slave_prefix: str) -> bool:
        return any(a["space"] == space and a["slave"].startswith(slave_prefix + "/") for a in self.addresses)


# ------------------------------------------------------------------------------------------
# the groups
# ------------------------------------------------------------------------------------------

def script(record: dict, board: str) -> List[Check]:
    """The script ran to its end, and checked the Vivado version before creating the project."""
    out = []
    code = record.get("exit_code", 0)
    if code != 0:
        error = " ".join(record.get("stderr") or []) or record.get("error", "")
        out.append(_check("script.ran_to_the_end", False,
                          f"the build script stopped with exit code {code}: {error}",
                          "do what the script's error message says (board, IP folder, course.ini or Vivado "
                          "version) and record the design again"))
    else:
        out.append(_check("script.ran_to_the_end", True, "the build script ran to its end (exit code 0)", ""))
    calls = record.get("calls", [])
    ok = not ("version" not in calls
              or ("create_project" in calls and calls.index("version") > calls.index("create_project")))
    out.append(_check("script.vivado_version_checked_first", ok,
                      "the Vivado version is checked (version -short) before the project is created" if ok else
                      "the Vivado version is not checked (version -short) before the project is created",
                      "call version -short and stop on a version not in course.ini's vivado_versions before "
                      "create_project"))
    return out


def project(record: dict, board: str) -> List[Check]:
    """Part and board part from course.ini."""
    b = CFG.board(board)
    proj = record.get("project") or {}
    out = []
    for key, want in (("part", b.part), ("board_part", b.board_part)):
        got = proj.get(key)
        ok = got == want
        out.append(_check(f"project.{key}_from_ini", ok,
                          f"project {key} is {got!r}, course.ini says {want!r}",
                          f"create the project with the {key} of [board:{board}] in course.ini"))
    return out


def cells(record: dict, board: str) -> List[Check]:
    """The PS, the DMA, the classifier and the reset block are there, and no AXI interface is left open."""
    d = _Design(record, board)
    out = [
        _check("cells.ps_present", d.ps is not None,
               f"processing system cell {d.ps!r} ({d.b.ps_vlnv})" if d.ps else
               f"no processing system cell with VLNV {d.b.ps_vlnv}",
               f"create one {d.b.ps_ip} cell (ps_ip of [board:{board}])"),
        _check("cells.dma_present", d.dma is not None,
               f"AXI DMA cell {CFG.dma_name!r} ({DMA_VLNV})" if d.dma else
               f"no AXI DMA cell named {CFG.dma_name!r} ({DMA_VLNV})",
               f"create the AXI DMA cell with the name dma_name from course.ini ({CFG.dma_name})"),
        _check("cells.classifier_present", d.ip is not None,
               f"classifier cell {CFG.ip_name!r} ({d.cells[d.ip]['vlnv'] if d.ip else ''})" if d.ip else
               f"no classifier cell named {CFG.ip_name!r} (the HLS IP {CFG.vlnv} or a module reference to "
               f"the RTL top {CFG.rtl.top})",
               f"create the classifier cell named {CFG.ip_name} from the HLS IP {CFG.vlnv} or as a module "
               f"reference to {CFG.rtl.top}"),
        _check("cells.reset_block_present", d.rst is not None,
               f"reset block {d.rst!r} ({RESET_VLNV})" if d.rst else f"no reset block ({RESET_VLNV})",
               f"create one {RESET_VLNV} cell for the PL reset"),
    ]
    connected = {end for pair in d.intf_nets for end in pair}
    open_ = [f"{cell}/{name} ({intf['mode']} {intf['protocol']})"
             for cell, info in d.cells.items() for name, intf in info["intfs"].items()
             if intf["protocol"] in ("aximm", "axis") and f"{cell}/{name}" not in connected]
    out.append(_check("cells.no_unconnected_axi_interface", not open_,
                      "every AXI interface of every cell is connected" if not open_ else
                      f"{len(open_)} AXI interface(s) not connected: {', '.join(open_)}",
                      "connect each listed interface with connect_bd_intf_net (or remove the option that "
                      "created it)"))
    return out


def ip_kind(record: dict, board: str) -> List[Check]:
    """The classifier is the kind the build asked for (HLS IP or RTL twin), and its sources are added."""
    d = _Design(record, board)
    out = []
    if d.ip is None:
        out.append(_not_applicable("ip_kind.classifier_is_kind_asked_for",
                                   "there is no classifier cell (see cells.classifier_present)"))
    else:
        ok = d.found == d.kind
        out.append(_check("ip_kind.classifier_is_kind_asked_for", ok,
                          f"the classifier cell {d.ip!r} is the {d.found} IP, as the build asked" if ok else
                          f"the classifier cell {d.ip!r} is the {d.found} IP ({d.cells[d.ip]['vlnv']}), "
                          f"the build asked for {d.kind}",
                          f"create the {d.kind} classifier (4th script argument {d.kind})"))
    if d.kind == "rtl":
        out.append(_not_applicable("ip_kind.ip_repository_added",
                                   "the build asked for the RTL twin, which needs no IP repository"))
        files = [f for f in record.get("added_files", []) if f != record.get("wrapper")]
        out.append(_check("ip_kind.rtl_sources_added", bool(files),
                          f"the RTL twin's {len(files)} Verilog file(s) are added to the project" if files else
                          "the RTL twin's Verilog files are not added to the project (add_files from sources.f)",
                          "add every file listed in the RTL folder's sources.f with add_files before creating "
                          "the module reference"))
    else:
        proj = record.get("project") or {}
        ok = bool(proj.get("ip_repo_paths")) and bool(record.get("catalog_updates"))
        out.append(_check("ip_kind.ip_repository_added", ok,
                          "the IP repository is added (ip_repo_paths + update_ip_catalog)" if ok else
                          "the IP repository is not added (ip_repo_paths + update_ip_catalog)",
                          "set the project's ip_repo_paths to the exported IP folder and run update_ip_catalog"))
        out.append(_not_applicable("ip_kind.rtl_sources_added",
                                   f"the build asked for the {d.kind} IP, not the RTL twin"))
    return out


def ps(record: dict, board: str) -> List[Check]:
    """The PS: board preset, the general-purpose master and HP slave ports, the PL clock (and its source)."""
    d = _Design(record, board)
    b = d.b
    names = ["ps.board_preset_applied", "ps.master_port_enabled", "ps.hp_port_enabled",
             "ps.pl_clock_frequency", "ps.pl_clock_source"]
    if d.ps is None:
        return [_not_applicable(n, "there is no processing system cell (see cells.ps_present)") for n in names]
    p = d.ps
    cfg = d.cells[p]["config"]
    preset = any(a["target"] == p and 'apply_board_preset "1"' in a["config"] for a in record.get("automation", []))
    out = [_check("ps.board_preset_applied", preset,
                  f"{p}: the board preset is applied" if preset else f"{p}: the board preset is not applied",
                  f"run apply_bd_automation with apply_board_preset \"1\" on {p} before setting its options")]
    for name, key, what in (("ps.master_port_enabled", b.master_enable, f"general-purpose master {b.ps_master}"),
                            ("ps.hp_port_enabled", b.hp_enable, f"high-performance slave {b.hp_slave}")):
        ok = cfg.get(key) == "1"
        out.append(_check(name, ok,
                          f"{p}: CONFIG.{key} is {cfg.get(key)!r}" + (", the port is enabled" if ok else ", must be 1"),
                          f"set CONFIG.{key} 1 on {p} (after the board preset) to enable the {what}"))
    try:
        freq = float(cfg.get(b.pl_clk_freq_property, "nan"))
    except ValueError:
        freq = float("nan")
    ok = abs(freq - CFG.clock_mhz) < 1e-6
    out.append(_check("ps.pl_clock_frequency", ok,
                      f"{p}: CONFIG.{b.pl_clk_freq_property} is {cfg.get(b.pl_clk_freq_property)!r}, "
                      f"course.ini clock_mhz is {CFG.clock_mhz:g}",
                      f"set CONFIG.{b.pl_clk_freq_property} {CFG.clock_mhz:g} on {p} (clock_mhz of course.ini)"))
    if not b.clk_source_property:
        out.append(_not_applicable("ps.pl_clock_source",
                                   f"[board:{board}] names no PL clock source to check (clk_source_property)"))
    else:
        got = cfg.get(b.clk_source_property)
        ok = got == b.clk_source
        out.append(_check("ps.pl_clock_source", ok,
                          f"{p}: CONFIG.{b.clk_source_property} is {got!r}" +
                          (", as PYNQ needs" if ok else
                           f", must be {b.clk_source} (PYNQ needs the PL clock from {b.clk_source})"),
                          f"set CONFIG.{b.clk_source_property} {b.clk_source} on {p}"))
    return out


# (check name, CONFIG key, wanted value for a board section, why -- the fix's second half)
_DMA_SETTINGS = (
    ("dma.no_scatter_gather", "c_include_sg", lambda b: "0",
     "the driver uses the simple register mode, and scatter-gather adds an M_AXI_SG port and clock"),
    ("dma.no_status_control_stream", "c_sg_include_stscntrl_strm", lambda b: "0",
     "the status/control stream exists only for scatter-gather"),
    ("dma.length_width_fits_batch", "c_sg_length_width", lambda b: str(CFG.dma_length_width),
     "the length register must hold the largest transfer of max_batch pulses (CFG.dma_length_width)"),
    ("dma.address_width_for_board", "c_addr_width", lambda b: str(b.dma_addr_width),
     "the DMA must address the whole DDR of the board (dma_addr_width)"),
    ("dma.mm2s_memory_width", "c_m_axi_mm2s_data_width", lambda b: str(CFG.word_bits),
     "the DMA reads whole stream words (word_bits) from DDR"),
    ("dma.mm2s_stream_width", "c_m_axis_mm2s_tdata_width", lambda b: str(CFG.word_bits),
     "the classifier's input stream is word_bits wide"),
    ("dma.s2mm_stream_width", "c_s_axis_s2mm_tdata_width", lambda b: str(CFG.word_bits),
     "the classifier's output stream is word_bits wide"),
)


def dma(record: dict, board: str) -> List[Check]:
    """The DMA settings: simple mode, length register wide enough for a batch, address and data widths."""
    d = _Design(record, board)
    if d.dma is None:
        return [_not_applicable(name, "there is no AXI DMA cell (see cells.dma_present)")
                for name, *_ in _DMA_SETTINGS]
    cfg = d.cells[d.dma]["config"]
    out = []
    for name, key, want, why in _DMA_SETTINGS:
        value = want(d.b)
        ok = str(cfg.get(key)) == value
        out.append(_check(name, ok, f"{d.dma}: CONFIG.{key} is {cfg.get(key)!r}" +
                          (", as it must be" if ok else f", must be {value}"),
                          f"set CONFIG.{key} {value} on {d.dma}: {why}"))
    return out


def axi_stream(record: dict, board: str) -> List[Check]:
    """The two streams: DMA MM2S -> classifier input, classifier output -> DMA S2MM."""
    d = _Design(record, board)
    names = ("axi_stream.dma_to_classifier", "axi_stream.classifier_to_dma")
    if not (d.dma and d.ip):
        return [_not_applicable(name, "the DMA or the classifier cell is missing (see cells.*)") for name in names]
    ends = ((f"{d.dma}/M_AXIS_MM2S", f"{d.ip}/{CFG.ip_in_stream}"),
            (f"{d.ip}/{CFG.ip_out_stream}", f"{d.dma}/S_AXIS_S2MM"))
    out = []
    for name, (master, slave) in zip(names, ends):
        ok = (master, slave) in d.intf_nets
        out.append(_check(name, ok, f"stream {master} -> {slave} is " + ("connected" if ok else "not connected"),
                          f"connect them in the script: connect_bd_intf_net [get_bd_intf_pins {master}] "
                          f"[get_bd_intf_pins {slave}]"))
    return out


def axi_lite(record: dict, board: str) -> List[Check]:
    """The register slaves (DMA and classifier) are reachable from the PS master, have addresses in
    its space at course.ini's bases (``dma_base``, ``ip_base``), and no two address ranges overlap."""
    d = _Design(record, board)
    b = d.b
    slaves = (("dma", "dma_registers", d.dma, "S_AXI_LITE"), ("classifier", "classifier_registers", d.ip, CFG.ip_ctrl))
    if not d.ps:
        why = "there is no processing system cell (see cells.ps_present)"
        return ([_not_applicable(f"axi_lite.{stem}_reachable", why) for _, stem, _, _ in slaves]
                + [_not_applicable(f"axi_lite.{stem}_mapped", why) for _, stem, _, _ in slaves]
                + [_not_applicable(f"axi_lite.{stem}_at_ini_base", why) for _, stem, _, _ in slaves]
                + [_not_applicable("axi_lite.no_overlapping_ranges", why)])
    gp = f"{d.ps}/{b.ps_master}"
    from_gp = _reachable(record, gp)
    space = f"{d.ps}/Data"
    reach, mapped = [], []
    for what, stem, cell, intf in slaves:
        if cell is None:
            why = f"there is no {what} cell (see cells.{what}_present)"
            reach.append(_not_applicable(f"axi_lite.{stem}_reachable", why))
            mapped.append(_not_applicable(f"axi_lite.{stem}_mapped", why))
            continue
        slave = f"{cell}/{intf}"
        ok = slave in from_gp
        reach.append(_check(f"axi_lite.{stem}_reachable", ok,
                            f"{slave} is " + ("" if ok else "not ") + f"reachable from the PS master {gp}",
                            f"connect {slave} to a master port of the interconnect on {gp}"))
        ok = d.mapped(space, slave)
        mapped.append(_check(f"axi_lite.{stem}_mapped", ok,
                             f"{slave} has " + ("an" if ok else "no") + f" address in {space}",
                             f"assign {slave} an address in {space} (assign_bd_address)"))
    spans = sorted((int(a["offset"], 16), int(a["offset"], 16) + int(a["range"], 16))
                   for a in d.addresses if a["space"] == space)
    overlap = any(hi > lo2 for (_, hi), (lo2, _) in zip(spans, spans[1:]))
    # the one address map: where course.ini ([board:*] dma_base, ip_base) puts each window
    found, want = recorded_addresses(record, board), address_map(board)
    at_base = []
    for (what, stem, cell, intf), (key, name) in zip(slaves, (("dma_base", CFG.dma_name), ("ip_base", CFG.ip_name))):
        check = f"axi_lite.{stem}_at_ini_base"
        if cell is None:
            at_base.append(_not_applicable(check, f"there is no {what} cell (see cells.{what}_present)"))
            continue
        base, size = want[name]
        got = found.get(name)
        ok = got == (base, size)
        where = "not mapped" if got is None else f"at 0x{got[0]:08X} (range 0x{got[1]:X})"
        at_base.append(_check(check, ok,
                              f"{cell}/{intf} is {where} in {space}; course.ini [board:{board}] {key} is "
                              f"0x{base:08X} (range 0x{size:X})",
                              f"assign it there explicitly: assign_bd_address -offset ${key} -range 0x{size:X} "
                              f"-target_address_space [get_bd_addr_spaces {space}] <its segment> -force "
                              "(params.tcl carries course.ini's value)"))
    return reach + mapped + at_base + [_check("axi_lite.no_overlapping_ranges", not overlap,
                                              ("overlapping address ranges in " if overlap else
                                               f"{len(spans)} address ranges, none overlapping, in ") + space,
                                              f"give each register slave its own range in {space}")]


def ddr(record: dict, board: str) -> List[Check]:
    """Both DMA memory masters reach the PS high-performance slave, and their address spaces map the DDR."""
    d = _Design(record, board)
    names = ["ddr.mm2s_reaches_hp_slave", "ddr.s2mm_reaches_hp_slave", "ddr.mm2s_maps_ddr", "ddr.s2mm_maps_ddr"]
    if not (d.ps and d.dma):
        return [_not_applicable(n, "the PS or the DMA cell is missing (see cells.*)") for n in names]
    hp = f"{d.ps}/{d.b.hp_slave}"
    out = []
    for ch in ("mm2s", "s2mm"):
        master = f"{d.dma}/M_AXI_{ch.upper()}"
        ok = hp in _reachable(record, master)
        out.append(_check(f"ddr.{ch}_reaches_hp_slave", ok,
                          f"{master} " + ("reaches" if ok else "does not reach") +
                          f" the PS high-performance slave {hp}",
                          f"connect {master} through the memory interconnect to {hp}"))
    for ch in ("mm2s", "s2mm"):
        space = f"{d.dma}/Data_{ch.upper()}"
        ok = d.mapped(space, hp)
        out.append(_check(f"ddr.{ch}_maps_ddr", ok,
                          f"{space} " + ("maps" if ok else "does not map") + f" the DDR behind {hp}",
                          f"assign the DDR segment of {hp} in {space} (assign_bd_address)"))
    return out


def clocks_resets(record: dict, board: str) -> List[Check]:
    """Every required clock pin on the PL clock; every required reset pin driven, the reset block's
    input from the PS reset, every other reset from the reset block."""
    d = _Design(record, board)
    b = d.b
    net_of = {}
    for net in record.get("nets", []):
        for p in net["pins"]:
            net_of[p] = net
    pl_clk = f"{d.ps}/{b.pl_clk}" if d.ps else None
    ps_reset = f"{d.ps}/{b.pl_resetn}" if d.ps else None
    sync_resets = {f"{d.rst}/peripheral_aresetn", f"{d.rst}/interconnect_aresetn"} if d.rst else set()
    clocks, bad_clocks, resets, undriven, ext, bad_ext, synced, bad_sync = 0, [], 0, [], 0, [], 0, []
    for cell, info in d.cells.items():
        for name, pin in info["pins"].items():
            path = f"{cell}/{name}"
            if pin["dir"] != "in" or not pin["required"]:
                continue
            driver = net_of.get(path, {}).get("driver")
            if pin["type"] == "clk":
                clocks += 1
                if driver != pl_clk:
                    bad_clocks.append(f"{path} (driven by {driver or 'nothing'})")
            elif pin["type"] == "rst":
                resets += 1
                if driver is None:
                    undriven.append(path)
                elif cell == d.rst and name == "ext_reset_in":
                    if d.ps:
                        ext += 1
                        if driver != ps_reset:
                            bad_ext.append(f"{path} (driven by {driver})")
                else:
                    synced += 1
                    if driver not in sync_resets:
                        bad_sync.append(f"{path} (driven by {driver})")
    out = [
        _check("clocks_resets.clock_pins_on_pl_clock", not bad_clocks,
               f"all {clocks} required clock pins are driven by the PL clock {pl_clk}" if not bad_clocks else
               f"{len(bad_clocks)} of {clocks} required clock pins are not on the PL clock {pl_clk}: "
               + ", ".join(bad_clocks),
               f"connect each listed clock pin to the PL clock {pl_clk} (or remove the option that created it)"),
        _check("clocks_resets.reset_pins_driven", not undriven,
               f"all {resets} required reset pins are driven" if not undriven else
               f"{len(undriven)} of {resets} required reset pins are not driven: " + ", ".join(undriven),
               f"connect each listed reset pin to {d.rst or 'the reset block'}/peripheral_aresetn "
               "(interconnects: interconnect_aresetn)"),
    ]
    if not (d.ps and d.rst):
        out.append(_not_applicable("clocks_resets.reset_block_from_ps_reset",
                                   "the PS or the reset block is missing (see cells.*)"))
    elif not ext:
        out.append(_check("clocks_resets.reset_block_from_ps_reset", True,
                          f"{d.rst}/ext_reset_in is not a driven required reset input, so there is no driver to "
                          "compare (see clocks_resets.reset_pins_driven)", ""))
    else:
        out.append(_check("clocks_resets.reset_block_from_ps_reset", not bad_ext,
                          f"{d.rst}/ext_reset_in is driven by the PS reset {ps_reset}" if not bad_ext else
                          f"{', '.join(bad_ext)} must be driven by the PS reset {ps_reset}",
                          f"connect {ps_reset} to {d.rst}/ext_reset_in"))
    out.append(_check("clocks_resets.resets_from_reset_block", not bad_sync,
                      f"all {synced} driven reset pins outside the reset block come from the reset block {d.rst}"
                      if not bad_sync else
                      f"{len(bad_sync)} reset pin(s) do not come from the reset block {d.rst}: " + ", ".join(bad_sync),
                      f"drive each listed reset pin from {d.rst or 'the reset block'}/peripheral_aresetn "
                      "(interconnects: interconnect_aresetn), released synchronously to the PL clock"))
    return out


def bitstream(record: dict, board: str) -> List[Check]:
    """Validate, HDL wrapper as top, impl_1 to write_bitstream launched and waited on, the
    ``<overlay_name>.bit/.hwh/.xsa`` outputs."""
    out = []
    ok = bool(record.get("validated"))
    out.append(_check("bitstream.design_validated", ok,
                      "validate_bd_design is " + ("run" if ok else "not run"),
                      "run validate_bd_design after the last connection"))
    bd = record.get("bd_design", "")
    ok = record.get("top") == f"{bd}_wrapper" and record.get("wrapper", "") in record.get("added_files", [])
    out.append(_check("bitstream.hdl_wrapper_is_top", ok,
                      f"the HDL wrapper {bd}_wrapper is made, added and set as top" if ok else
                      "the HDL wrapper is not made, added and set as top",
                      "make the wrapper (make_wrapper -top), add it with add_files and set it as the top module"))
    ok = any(r["run"] == "impl_1" and r["to_step"] == "write_bitstream" for r in record.get("runs", []))
    out.append(_check("bitstream.run_launched", ok,
                      "launch_runs impl_1 -to_step write_bitstream is " + ("requested" if ok else "not requested"),
                      "request the bitstream after synthesis: launch_runs impl_1 -to_step write_bitstream"))
    ok = "impl_1" in record.get("waited", [])
    out.append(_check("bitstream.run_waited_on", ok,
                      "wait_on_run impl_1 is called" if ok else
                      "wait_on_run impl_1 is missing (batch Vivado would exit before the bitstream exists)",
                      "call wait_on_run impl_1 after launch_runs"))
    name = CFG.overlay_name
    outputs = set(record.get("outputs", []))
    for ext in ("bit", "hwh", "xsa"):
        ok = f"{name}.{ext}" in outputs
        out.append(_check(f"bitstream.{ext}_written", ok,
                          f"{name}.{ext} is " + ("" if ok else "not ") + "written to the output folder",
                          f"copy (or write) {name}.{ext} into the output folder: PYNQ and lab 06 look for that name"))
    platform = record.get("hw_platform")
    if not platform:
        out.append(_not_applicable("bitstream.hw_platform_name", "write_hw_platform is not called"))
    else:
        got = Path(platform).name
        ok = got == f"{name}.xsa"
        out.append(_check("bitstream.hw_platform_name", ok,
                          f"write_hw_platform writes {got}" + ("" if ok else f", expected {name}.xsa"),
                          f"write_hw_platform to {name}.xsa (overlay_name of course.ini)"))
    return out


# (group, one line on the concern, the function) -- run_checks runs them in this order
GROUPS = (
    ("script", "the script ran and checked the Vivado version", script),
    ("project", "part and board part", project),
    ("cells", "the blocks, every AXI interface connected", cells),
    ("ip_kind", "HLS IP or RTL twin, and its sources", ip_kind),
    ("ps", "processing system settings", ps),
    ("dma", "AXI DMA settings", dma),
    ("axi_stream", "the two data streams", axi_stream),
    ("axi_lite", "register slaves: reachable, addressed at course.ini's bases", axi_lite),
    ("ddr", "DMA memory masters to DDR", ddr),
    ("clocks_resets", "clocks and resets", clocks_resets),
    ("bitstream", "bitstream run and output files as the script asks for them (stubs: placeholders, no bitstream)",
     bitstream),
)


def run_checks(record: dict, board: str) -> List[Check]:
    """Every check of a recorded block design for ``board``, grouped (see :data:`GROUPS`), each a
    :class:`Check`; ``failed(run_checks(record, board)) == []`` means the design is correct.

    The classifier cell ``CFG.ip_name`` may be the HLS IP or its RTL twin (a module reference to
    ``CFG.rtl.top``); when the record says which was asked for (``record["ip_kind"]``, set by
    :func:`~labkit.blockdesign.build.run_stubbed`), it must be that one.
    """
    CFG.board(board)  # unknown board -> KeyError naming the choices
    return [check for _, _, group in GROUPS for check in group(record, board)]
