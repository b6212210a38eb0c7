# hw/stubs/vivado_stubs.tcl -- recording stand-ins for the Vivado commands build_overlay.tcl uses.
#
# Lets plain tclsh run the real build script without Vivado.  Every command records what it was
# asked to do (project, cells with VLNV and CONFIG, nets, interface nets, addresses, runs, files);
# stub::dump_json writes that record for labkit.blockdesign.checks.run_checks / pytest.
#
# The stubs model the parts of Vivado's behaviour the checks rely on, and fail like Vivado where
# a build would fail:
#   * each IP has a catalogue of pins/interfaces; some only exist when a CONFIG option enables
#     them (PS ports, the DMA scatter-gather port), so a missing enable shows up as a missing pin
#   * the board-preset automation resets the PS configuration (Vivado defaults), so settings
#     made before it are lost, as in Vivado
#   * connect_bd_net refuses two drivers; connect_bd_intf_net refuses master-master, mixed
#     protocols and already-connected interfaces; an unknown VLNV or a user IP without a
#     repository is an error
#   * a module-reference cell (create_bd_cell -type module -reference M) needs M among the
#     project's sources (add_files); it gets Vivado's VLNV xilinx.com:module_ref:M:1.0 and the
#     pins/interfaces registered for M (stub::register_module)
#   * add_files refuses files that do not exist
#   * set_property CONFIG.<name> on the AXI DMA refuses a name the IP does not have (its parameter
#     names as real Vivado writes them, e.g. c_sg_include_stscntrl_strm)
#   * assign_bd_address maps each slave a master reaches through the interconnects; with -offset
#     -range -target_address_space <space> <slave segment> it maps that segment there, and fails
#     like Vivado when the segment is not reachable from the space, the range is not a power of
#     two or smaller than the slave's, the offset is not aligned to the range, the window lies
#     outside the master's aperture (the PS masters' windows below) or overlaps another one
#   * wait_on_run writes placeholder .bit/.hwh files (text saying so) where Vivado would
#     They are NOT bitstreams; the stub runner only ever writes into temporary folders.
# It is a model for structure tests, not a simulator of Vivado.

namespace eval stub {
    variable version "2024.1"
    variable user_ips [dict create]     ;# vlnv -> catalogue spec of IPs found in a repository
    variable modules [dict create]      ;# module name -> spec of an RTL module (module reference)
    variable S [dict create \
        project {} cells {} cell_order {} ports {} nets {} intf_nets {} automation {} \
        addresses {} validated 0 saved 0 bd_design "" bd_file "" wrapper "" added_files {} \
        top "" runs {} waited {} hw_platform "" ip_repo_paths {} ip_zips {} catalog_updates 0 \
        calls {} compile_order 0 closed 0]
}

# The IP versions each emulated release's catalogue has (create_bd_cell with a version-less VLNV
# takes it; a VLNV with another version is not found).  The stubs' own table, not course.ini's:
# 2024.1 as a real 2024.1 write_bd_tcl shows (zynq_ultra_ps_e 3.5, axi_dma 7.1, proc_sys_reset
# 5.0), the rest as the current product guides list them.  stub::set_ip_version (run_stubbed.tcl
# -ip name=version) emulates a release whose catalogue differs.
set stub::catalog_versions [dict create processing_system7 5.5 zynq_ultra_ps_e 3.5 axi_dma 7.1 \
    smartconnect 1.0 proc_sys_reset 5.0]
proc stub::set_version {v} { variable version; set version $v }
proc stub::set_ip_version {name v} { variable catalog_versions; dict set catalog_versions $name $v }

# vlnv as the running release's catalogue resolves it: vendor:library:name -> vendor:library:name:version
# of a built-in IP; "" when the catalogue has no such version
proc stub::resolve_vlnv {vlnv} {
    variable catalog_versions
    set parts [split $vlnv :]
    lassign $parts vendor library name version
    if {$vendor ne "xilinx.com" || $library ne "ip" || ![dict exists $catalog_versions $name]} { return $vlnv }
    set have [dict get $catalog_versions $name]
    if {[llength $parts] == 3} { return "$vlnv:$have" }
    if {$version eq $have} { return $vlnv }
    return ""
}
proc stub::call {name} { variable S; dict lappend S calls $name }
proc stub::error_like_vivado {id message} { error "ERROR: \[$id\] $message" }

# -- IP catalogue ---------------------------------------------------------------------------------
# spec: pins {name {dir type required enable}} intfs {name {mode protocol space base seg range enable}}
#   a slave's base is its fixed offset ("" = floating), seg/range its address segment; a master's
#   base/range is its aperture in the address space (where its slaves may be placed; "" = anywhere)
#   enable: "" (always) or {CONFIG.KEY value} -- the pin/interface exists only when KEY == value
#   type: clk | rst | intr | other ; mode: master | slave | external
proc stub::builtin_spec {vlnv} {
    set base [join [lrange [split $vlnv :] 0 2] :]
    switch -- $base {
        xilinx.com:ip:processing_system7 {
            # master windows (UG585 system address map): GP0 0x4000_0000-0x7FFF_FFFF, GP1 0x8000_0000-0xBFFF_FFFF
            return {
                defaults {PCW_USE_M_AXI_GP0 0 PCW_USE_M_AXI_GP1 0 PCW_USE_S_AXI_HP0 0
                          PCW_FPGA0_PERIPHERAL_FREQMHZ 50 PCW_EN_CLK0_PORT 1 PCW_EN_RST0_PORT 1}
                preset {PCW_USE_M_AXI_GP0 1 PCW_USE_M_AXI_GP1 0 PCW_USE_S_AXI_HP0 0
                        PCW_FPGA0_PERIPHERAL_FREQMHZ 50}
                pins {
                    FCLK_CLK0      {out clk 0 {PCW_EN_CLK0_PORT 1}}
                    FCLK_RESET0_N  {out rst 0 {PCW_EN_RST0_PORT 1}}
                    M_AXI_GP0_ACLK {in clk 1 {PCW_USE_M_AXI_GP0 1}}
                    M_AXI_GP1_ACLK {in clk 1 {PCW_USE_M_AXI_GP1 1}}
                    S_AXI_HP0_ACLK {in clk 1 {PCW_USE_S_AXI_HP0 1}}
                }
                intfs {
                    DDR       {external ddr "" "" "" "" ""}
                    FIXED_IO  {external fixed_io "" "" "" "" ""}
                    M_AXI_GP0 {master aximm Data 0x40000000 "" 0x40000000 {PCW_USE_M_AXI_GP0 1}}
                    M_AXI_GP1 {master aximm Data 0x80000000 "" 0x40000000 {PCW_USE_M_AXI_GP1 1}}
                    S_AXI_HP0 {slave aximm "" 0x00000000 HP0_DDR_LOWOCM 0x20000000 {PCW_USE_S_AXI_HP0 1}}
                }
            }
        }
        xilinx.com:ip:zynq_ultra_ps_e {
            # master windows below 4 GB (UG1085 address map): HPM0_FPD 0xA000_0000-0xAFFF_FFFF,
            # HPM1_FPD 0xB000_0000-0xBFFF_FFFF, HPM0_LPD 0x8000_0000-0x9FFF_FFFF
            return {
                defaults {PSU__USE__M_AXI_GP0 0 PSU__USE__M_AXI_GP1 0 PSU__USE__M_AXI_GP2 0
                          PSU__USE__S_AXI_GP2 0 PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ 100
                          PSU__CRL_APB__PL0_REF_CTRL__SRCSEL RPLL}
                preset {PSU__USE__M_AXI_GP0 1 PSU__USE__M_AXI_GP1 1 PSU__USE__M_AXI_GP2 0
                        PSU__USE__S_AXI_GP2 0 PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ 100
                        PSU__CRL_APB__PL0_REF_CTRL__SRCSEL RPLL}
                pins {
                    pl_clk0           {out clk 0 ""}
                    pl_resetn0        {out rst 0 ""}
                    maxihpm0_fpd_aclk {in clk 1 {PSU__USE__M_AXI_GP0 1}}
                    maxihpm1_fpd_aclk {in clk 1 {PSU__USE__M_AXI_GP1 1}}
                    maxihpm0_lpd_aclk {in clk 1 {PSU__USE__M_AXI_GP2 1}}
                    saxihp0_fpd_aclk  {in clk 1 {PSU__USE__S_AXI_GP2 1}}
                }
                intfs {
                    M_AXI_HPM0_FPD {master aximm Data 0xA0000000 "" 0x10000000 {PSU__USE__M_AXI_GP0 1}}
                    M_AXI_HPM1_FPD {master aximm Data 0xB0000000 "" 0x10000000 {PSU__USE__M_AXI_GP1 1}}
                    M_AXI_HPM0_LPD {master aximm Data 0x80000000 "" 0x20000000 {PSU__USE__M_AXI_GP2 1}}
                    S_AXI_HP0_FPD  {slave aximm "" 0x00000000 HP0_DDR_LOW 0x80000000 {PSU__USE__S_AXI_GP2 1}}
                }
            }
        }
        xilinx.com:ip:axi_dma {
            return {
                defaults {c_include_sg 1 c_sg_include_stscntrl_strm 1 c_include_mm2s 1 c_include_s2mm 1
                          c_sg_length_width 14 c_addr_width 32 c_m_axi_mm2s_data_width 32
                          c_m_axis_mm2s_tdata_width 32 c_m_axi_s2mm_data_width 32
                          c_s_axis_s2mm_tdata_width 32}
                strict_config 1
                pins {
                    s_axi_lite_aclk {in clk 1 ""}
                    m_axi_sg_aclk   {in clk 1 {c_include_sg 1}}
                    m_axi_mm2s_aclk {in clk 1 {c_include_mm2s 1}}
                    m_axi_s2mm_aclk {in clk 1 {c_include_s2mm 1}}
                    axi_resetn      {in rst 1 ""}
                    mm2s_introut    {out intr 0 {c_include_mm2s 1}}
                    s2mm_introut    {out intr 0 {c_include_s2mm 1}}
                }
                intfs {
                    S_AXI_LITE  {slave aximm "" "" Reg 0x10000 ""}
                    M_AXI_SG    {master aximm Data_SG "" "" "" {c_include_sg 1}}
                    M_AXI_MM2S  {master aximm Data_MM2S "" "" "" {c_include_mm2s 1}}
                    M_AXI_S2MM  {master aximm Data_S2MM "" "" "" {c_include_s2mm 1}}
                    M_AXIS_MM2S {master axis "" "" "" "" {c_include_mm2s 1}}
                    S_AXIS_S2MM {slave axis "" "" "" "" {c_include_s2mm 1}}
                }
            }
        }
        xilinx.com:ip:smartconnect {
            # interfaces depend on NUM_SI / NUM_MI: generated in stub::spec
            return {defaults {NUM_SI 1 NUM_MI 2} pins {aclk {in clk 1 ""} aresetn {in rst 1 ""}} intfs {}
                    interconnect 1}
        }
        xilinx.com:ip:proc_sys_reset {
            return {
                defaults {}
                pins {
                    slowest_sync_clk     {in clk 1 ""}
                    ext_reset_in         {in rst 1 ""}
                    aux_reset_in         {in rst 0 ""}
                    mb_debug_sys_rst     {in rst 0 ""}
                    dcm_locked           {in other 0 ""}
                    peripheral_aresetn   {out rst 0 ""}
                    interconnect_aresetn {out rst 0 ""}
                    peripheral_reset     {out rst 0 ""}
                    bus_struct_reset     {out rst 0 ""}
                    mb_reset             {out rst 0 ""}
                }
                intfs {}
            }
        }
    }
    return ""
}

# Register a user IP (what update_ip_catalog would find in a repository's component.xml).
proc stub::register_ip {vlnv spec} { variable user_ips; dict set user_ips $vlnv $spec }

# Register an RTL module (the pins/interfaces Vivado would infer from its ports and attributes).
proc stub::register_module {name spec} { variable modules; dict set modules $name $spec }

# Spec of module $name if the project's sources provide it: registered, and one of the added HDL
# files defines it (an empty file, as the stub runs use, counts as defining it).
proc stub::module_spec {name} {
    variable modules
    variable S
    if {![dict exists $modules $name]} { return "" }
    foreach f [dict get $S added_files] {
        if {[string tolower [file extension $f]] ni {.v .sv .vhd .vhdl} || ![file isfile $f]} continue
        set fh [open $f r]
        set text [read $fh]
        close $fh
        if {[string trim $text] eq "" || [regexp "\\mmodule\\s+$name\\M" $text]} {
            return [dict get $modules $name]
        }
    }
    return ""
}

proc stub::vlnv_spec {vlnv} {
    variable user_ips
    variable S
    set spec [builtin_spec $vlnv]
    if {$spec ne ""} { return $spec }
    foreach {known s} $user_ips {
        if {$vlnv eq $known || [string match "$vlnv:*" $known]} {
            if {[llength [dict get $S ip_repo_paths]] == 0 || ![stub::repo_has_ip]} {
                return ""
            }
            return $s
        }
    }
    return ""
}

proc stub::repo_has_ip {} {
    variable S
    foreach repo [dict get $S ip_repo_paths] {
        if {[llength [stub::find_files $repo component.xml 4]] || [llength [dict get $S ip_zips]]} {
            return 1
        }
    }
    return 0
}

proc stub::find_files {dir name depth} {
    set found [glob -nocomplain -directory $dir -types f $name]
    if {$depth > 0} {
        foreach sub [glob -nocomplain -directory $dir -types d *] {
            lappend found {*}[find_files $sub $name [expr {$depth - 1}]]
        }
    }
    return $found
}

proc stub::config_value {cell key} {
    variable S
    set c [dict get $S cells $cell]
    if {[dict exists $c config $key]} { return [dict get $c config $key] }
    set spec [dict get $c spec]
    if {[dict exists $spec defaults $key]} { return [dict get $spec defaults $key] }
    return ""
}

proc stub::enabled {cell enable} {
    if {$enable eq ""} { return 1 }
    lassign $enable key value
    return [expr {[config_value $cell $key] eq $value}]
}

# Pins and interfaces a cell has with its current configuration.
proc stub::cell_pins {cell} {
    variable S
    set spec [dict get $S cells $cell spec]
    set out [dict create]
    dict for {name p} [dict get $spec pins] {
        lassign $p dir type required enable
        if {[enabled $cell $enable]} { dict set out $name [list $dir $type $required] }
    }
    return $out
}

proc stub::cell_intfs {cell} {
    variable S
    set spec [dict get $S cells $cell spec]
    set out [dict create]
    dict for {name i} [dict get $spec intfs] {
        lassign $i mode protocol space base seg range enable
        if {[enabled $cell $enable]} { dict set out $name [list $mode $protocol $space $base $seg $range] }
    }
    if {[dict exists $spec interconnect]} {
        for {set k 0} {$k < [config_value $cell NUM_SI]} {incr k} {
            dict set out [format S%02d_AXI $k] [list slave aximm "" "" "" ""]
        }
        for {set k 0} {$k < [config_value $cell NUM_MI]} {incr k} {
            dict set out [format M%02d_AXI $k] [list master aximm "" "" "" ""]
        }
    }
    return $out
}

proc stub::is_interconnect {cell} {
    variable S
    return [dict exists $S cells $cell spec interconnect]
}

# "/cell/pin" or "cell/pin" -> {cell pin}
proc stub::split_path {path} {
    set path [string trimleft $path /]
    set k [string first / $path]
    if {$k < 0} { return [list $path ""] }
    return [list [string range $path 0 [expr {$k - 1}]] [string range $path [expr {$k + 1}] end]]
}

proc stub::strip_options {arglist flags_with_value} {
    # -> {options-dict positional-list}
    set opts [dict create]
    set pos {}
    for {set k 0} {$k < [llength $arglist]} {incr k} {
        set a [lindex $arglist $k]
        if {[string index $a 0] eq "-" && [string length $a] > 1 && ![string is double -strict $a]} {
            if {$a in $flags_with_value} {
                incr k
                dict set opts $a [lindex $arglist $k]
            } else {
                dict set opts $a 1
            }
        } else {
            lappend pos $a
        }
    }
    return [list $opts $pos]
}

# -- project ------------------------------------------------------------------------------------------
proc version {args} {
    stub::call version
    return $stub::version
}

proc create_project {args} {
    stub::call create_project
    lassign [stub::strip_options $args {-part}] opts pos
    lassign $pos name dir
    if {![dict exists $opts -part]} { stub::error_like_vivado "Vivado 12-xxxx" "create_project without -part" }
    file mkdir $dir
    dict set stub::S project [dict create name $name dir [file normalize $dir] \
        part [dict get $opts -part] board_part "" props {}]
    return $name
}

proc current_project {args} {
    set p [dict get $stub::S project]
    if {$p eq ""} { stub::error_like_vivado "Common 17-53" "no open project" }
    return [dict get $p name]
}
proc current_fileset {args} { return sources_1 }
proc get_board_parts {args} {
    lassign [stub::strip_options $args {}] opts pos
    return [lindex $pos 0]
}

proc set_property {args} {
    stub::call set_property
    if {[lindex $args 0] eq "-dict"} {
        set pairs [lindex $args 1]
        set objs [lrange $args 2 end]
    } else {
        set pairs [lrange $args 0 1]
        set objs [lrange $args 2 end]
    }
    set objs [concat {*}$objs]
    if {[llength $objs] == 0} { stub::error_like_vivado "Common 17-55" "set_property: no objects" }
    foreach obj $objs {
        foreach {key value} $pairs {
            stub::set_one $obj $key $value
        }
    }
}

proc stub::set_one {obj key value} {
    variable S
    set project [dict get $S project]
    if {$project ne "" && $obj eq [dict get $project name]} {
        switch -- [string tolower $key] {
            board_part    { dict set S project board_part $value }
            ip_repo_paths { dict set S ip_repo_paths [lmap p $value {file normalize $p}] }
            default       { dict set S project props $key $value }
        }
        return
    }
    if {$obj eq "sources_1" && [string tolower $key] eq "top"} {
        dict set S top $value
        return
    }
    lassign [split_path $obj] cell rest
    if {$rest eq "" && [dict exists $S cells $cell]} {
        if {![string match -nocase CONFIG.* $key]} {
            stub::error_like_vivado "BD 5-xxx" "stub: only CONFIG.* properties are modelled on cells ($key)"
        }
        set name [string range $key 7 end]
        set spec [dict get $S cells $cell spec]
        # an IP whose parameter list the stub knows refuses a name it does not have, as Vivado does
        if {[dict exists $spec strict_config] && ![dict exists $spec defaults $name]} {
            stub::error_like_vivado "BD 41-1273" "set_property: '$key' is not a parameter of [dict get $S cells $cell vlnv] (cell /$cell)"
        }
        dict set S cells $cell config $name $value
        return
    }
    stub::error_like_vivado "Common 17-161" "set_property: unknown object '$obj'"
}

proc get_property {key obj} {
    set project [dict get $stub::S project]
    if {$project ne "" && $obj eq [dict get $project name]} {
        switch -- $key {
            DIRECTORY { return [dict get $project dir] }
            NAME      { return [dict get $project name] }
            default   { return [expr {[dict exists $project props $key] ? [dict get $project props $key] : ""}] }
        }
    }
    if {$obj in {synth_1 impl_1}} {
        switch -- $key {
            DIRECTORY { return [file join [dict get $project dir] [dict get $project name].runs $obj] }
            PROGRESS  { return [expr {[lsearch -exact [dict get $stub::S waited] $obj] >= 0 ? "100%" : "0%"}] }
            STATUS    { return "stub: run recorded, nothing was implemented" }
            STATS.WNS { return "" }
            default   { return "" }
        }
    }
    foreach a [dict get $stub::S addresses] {
        if {[dict get $a name] eq $obj} {
            switch -- $key { OFFSET { return [dict get $a offset] } RANGE { return [dict get $a range] } }
        }
    }
    lassign [stub::split_path $obj] cell rest
    if {$rest eq "" && [dict exists $stub::S cells $cell] && [string match -nocase CONFIG.* $key]} {
        return [stub::config_value $cell [string range $key 7 end]]
    }
    if {$rest eq "" && [dict exists $stub::S cells $cell] && $key eq "VLNV"} {
        return [dict get $stub::S cells $cell vlnv]
    }
    stub::error_like_vivado "Common 17-58" "get_property: '$key' of '$obj' is not modelled by the stub"
}

proc update_ip_catalog {args} {
    stub::call update_ip_catalog
    lassign [stub::strip_options $args {-add_ip -repo_path}] opts pos
    if {[dict exists $opts -add_ip]} {
        dict lappend stub::S ip_zips [file normalize [dict get $opts -add_ip]]
    }
    dict incr stub::S catalog_updates
}

proc get_ipdefs {args} {
    lassign [stub::strip_options $args {-filter}] opts pos
    set pattern [lindex $pos 0]
    if {[dict exists $opts -filter] && [regexp {VLNV\s*==\s*(\S+)} [dict get $opts -filter] -> v]} {
        set pattern $v
    }
    if {$pattern ne "" && [stub::vlnv_spec $pattern] ne ""} { return $pattern }
    return ""
}

# -- block design -------------------------------------------------------------------------------------
proc create_bd_design {name} {
    stub::call create_bd_design
    set p [dict get $stub::S project]
    dict set stub::S bd_design $name
    dict set stub::S bd_file [file join [dict get $p dir] [dict get $p name].srcs sources_1 bd $name $name.bd]
    return $name
}
proc current_bd_design {args} { return [dict get $stub::S bd_design] }
proc startgroup {args} {}
proc endgroup {args} {}
proc regenerate_bd_layout {args} {}
proc set_msg_config {args} {}

proc create_bd_cell {args} {
    stub::call create_bd_cell
    lassign [stub::strip_options $args {-type -vlnv -reference}] opts pos
    set name [lindex $pos 0]
    set type [expr {[dict exists $opts -type] ? [dict get $opts -type] : "ip"}]
    set vlnv [expr {[dict exists $opts -vlnv] ? [dict get $opts -vlnv] : ""}]
    set reference [expr {[dict exists $opts -reference] ? [dict get $opts -reference] : ""}]
    if {[dict exists $stub::S cells $name]} {
        stub::error_like_vivado "BD 5-xxx" "a cell named '$name' already exists"
    }
    if {$type eq "module"} {
        set spec [stub::module_spec $reference]
        if {$spec eq ""} {
            stub::error_like_vivado "BD 41-xxx" "module '$reference' not found in the project sources (add its files with add_files)"
        }
        set vlnv "xilinx.com:module_ref:$reference:1.0"
    } elseif {$type eq "ip"} {
        set resolved [stub::resolve_vlnv $vlnv]
        if {$resolved eq ""} {
            stub::error_like_vivado "BD 5-390" "IP definition not found for VLNV: $vlnv (Vivado $stub::version has [join [lrange [split $vlnv :] 0 2] :]:[dict get $stub::catalog_versions [lindex [split $vlnv :] 2]])"
        }
        set vlnv $resolved
        set spec [stub::vlnv_spec $vlnv]
        if {$spec eq ""} {
            stub::error_like_vivado "BD 5-390" "IP definition not found for VLNV: $vlnv (is its repository in ip_repo_paths?)"
        }
    } else {
        stub::error_like_vivado "BD 5-xxx" "stub: create_bd_cell -type $type is not modelled"
    }
    dict set stub::S cells $name [dict create vlnv $vlnv type $type reference $reference config {} spec $spec]
    dict lappend stub::S cell_order $name
    return "/$name"
}

proc get_bd_cells {args} {
    lassign [stub::strip_options $args {-filter -of_objects}] opts pos
    if {[llength $pos] == 0} { return [lmap c [dict get $stub::S cell_order] {string cat / $c}] }
    set out {}
    foreach pattern $pos {
        set pattern [string trimleft $pattern /]
        foreach c [dict get $stub::S cell_order] {
            if {[string match $pattern $c]} { lappend out "/$c" }
        }
    }
    return $out
}

proc stub::lookup {kind path quiet} {
    lassign [split_path $path] cell name
    variable S
    if {[dict exists $S cells $cell]} {
        set table [expr {$kind eq "pin" ? [cell_pins $cell] : [cell_intfs $cell]}]
        if {[dict exists $table $name]} { return "/$cell/$name" }
    }
    if {!$quiet} { puts "WARNING: \[BD 5-699\] No $kind matched '$path'" }
    return ""
}

proc get_bd_pins {args} {
    lassign [stub::strip_options $args {}] opts pos
    return [stub::lookup pin [lindex $pos 0] [dict exists $opts -quiet]]
}
proc get_bd_intf_pins {args} {
    lassign [stub::strip_options $args {}] opts pos
    return [stub::lookup intf [lindex $pos 0] [dict exists $opts -quiet]]
}
proc get_bd_ports {args} {
    lassign [stub::strip_options $args {}] opts pos
    set name [string trimleft [lindex $pos 0] /]
    if {[dict exists $stub::S ports $name]} { return "/$name" }
    return ""
}
proc get_bd_intf_ports {args} { return [get_bd_ports {*}$args] }
proc create_bd_port {args} {
    lassign [stub::strip_options $args {-dir -type -from -to -freq_hz}] opts pos
    dict set stub::S ports [lindex $pos 0] [dict create kind pin]
    return "/[lindex $pos 0]"
}

proc stub::pin_info {path} {
    lassign [split_path $path] cell name
    variable S
    if {![dict exists $S cells $cell]} { return "" }
    set pins [cell_pins $cell]
    if {![dict exists $pins $name]} { return "" }
    return [dict get $pins $name]
}

proc connect_bd_net {args} {
    stub::call connect_bd_net
    lassign [stub::strip_options $args {-net}] opts pos
    set pins {}
    foreach p [concat {*}$pos] {
        if {[stub::pin_info $p] eq ""} {
            stub::error_like_vivado "BD 5-106" "connect_bd_net: '$p' is not a pin of the block design"
        }
        lappend pins [string trimleft $p /]
    }
    if {[llength $pins] < 2} { stub::error_like_vivado "BD 5-106" "connect_bd_net needs at least two pins" }
    # merge with nets these pins are already on
    set merged $pins
    set keep {}
    foreach net [dict get $stub::S nets] {
        set overlap 0
        foreach p $pins { if {$p in $net} { set overlap 1 } }
        if {$overlap} { lappend merged {*}$net } else { lappend keep $net }
    }
    set merged [lsort -unique $merged]
    set drivers [lmap p $merged {expr {[lindex [stub::pin_info $p] 0] eq "out" ? $p : [continue]}}]
    if {[llength $drivers] > 1} {
        stub::error_like_vivado "BD 5-107" "net would have several drivers: [join $drivers {, }]"
    }
    lappend keep $merged
    dict set stub::S nets $keep
}

proc stub::intf_info {path} {
    lassign [split_path $path] cell name
    variable S
    if {![dict exists $S cells $cell]} { return "" }
    set intfs [cell_intfs $cell]
    if {![dict exists $intfs $name]} { return "" }
    return [dict get $intfs $name]
}

proc stub::intf_connected {path} {
    foreach n [dict get $stub::S intf_nets] {
        if {$path in $n} { return 1 }
    }
    return 0
}

proc connect_bd_intf_net {args} {
    stub::call connect_bd_intf_net
    lassign [stub::strip_options $args {-intf_net}] opts pos
    set ends [concat {*}$pos]
    if {[llength $ends] != 2} {
        stub::error_like_vivado "BD 5-106" "connect_bd_intf_net needs exactly two interface pins, got '$ends'"
    }
    set infos {}
    foreach e $ends {
        set info [stub::intf_info $e]
        if {$info eq ""} { stub::error_like_vivado "BD 5-106" "'$e' is not an interface pin of the block design" }
        if {[stub::intf_connected [string trimleft $e /]]} {
            stub::error_like_vivado "BD 5-109" "interface pin '$e' is already connected"
        }
        lappend infos $info
    }
    lassign $infos a b
    if {[lindex $a 1] ne [lindex $b 1]} {
        stub::error_like_vivado "BD 41-xxx" "cannot connect [lindex $a 1] '[lindex $ends 0]' to [lindex $b 1] '[lindex $ends 1]'"
    }
    set modes [lsort [list [lindex $a 0] [lindex $b 0]]]
    if {$modes ne {master slave}} {
        stub::error_like_vivado "BD 41-xxx" "interfaces '[join $ends {' and '}]' are both [lindex $a 0]s"
    }
    set ends [lmap e $ends {string trimleft $e /}]
    if {[lindex $a 0] eq "slave"} { set ends [lreverse $ends] }
    dict lappend stub::S intf_nets $ends    ;# {master slave}
}

proc apply_bd_automation {args} {
    stub::call apply_bd_automation
    lassign [stub::strip_options $args {-rule -config}] opts pos
    set rule [dict get $opts -rule]
    set config [expr {[dict exists $opts -config] ? [dict get $opts -config] : ""}]
    set target [string trimleft [lindex $pos 0] /]
    dict lappend stub::S automation [dict create rule $rule config $config target $target]
    if {![dict exists $stub::S cells $target]} {
        stub::error_like_vivado "BD 5-xxx" "apply_bd_automation: no cell '$target'"
    }
    set spec [dict get $stub::S cells $target spec]
    if {[dict exists $config apply_board_preset] && [dict get $config apply_board_preset] eq "1"} {
        # the preset replaces the PS configuration: earlier CONFIG settings are lost
        dict set stub::S cells $target config [dict get $spec preset]
        dict set stub::S cells $target preset_applied 1
    }
    if {[dict exists $config make_external]} {
        foreach port [split [dict get $config make_external] ","] {
            set port [string trim $port]
            dict set stub::S ports $port [dict create kind intf]
            dict lappend stub::S intf_nets [list "$target/$port" "port:$port"]
        }
    }
}

# assign_bd_address: every master address space gets the slave segments it reaches through
# interface nets and interconnect cells (any slave port to any master port of an interconnect).
proc stub::reachable {start} {
    # start: "cell/intf" of a master; -> list of "cell/intf" slaves with an address segment
    set seen [list $start]
    set todo [list $start]
    set found {}
    while {[llength $todo]} {
        set todo [lassign $todo cur]
        foreach n [dict get $stub::S intf_nets] {
            lassign $n m s
            if {$m ne $cur} continue
            lassign [split_path $s] cell name
            if {$s in $seen} continue
            lappend seen $s
            if {[string match port:* $s]} continue
            if {[is_interconnect $cell]} {
                dict for {iname info} [cell_intfs $cell] {
                    if {[lindex $info 0] eq "master"} { lappend todo "$cell/$iname" }
                }
            } elseif {[lindex [intf_info $s] 4] ne ""} {
                lappend found $s
            }
        }
    }
    return $found
}

# a range as Vivado takes it: 65536, 0x10000, 64K, 16M, 1G
proc stub::parse_range {value} {
    if {[regexp -nocase {^(\d+)\s*([KMG])$} $value -> n unit]} {
        return [expr {$n * (1 << (10 * [lsearch {K M G} [string toupper $unit]] + 10))}]
    }
    if {![string is wideinteger -strict $value]} {
        stub::error_like_vivado "BD 41-1273" "invalid range '$value'"
    }
    return [expr {$value}]
}

proc stub::overlapping {space offset range {except ""}} {
    foreach a [dict get $stub::S addresses] {
        if {[dict get $a space] ne $space || [dict get $a slave] eq $except} continue
        set lo [dict get $a offset]
        set hi [expr {$lo + [dict get $a range]}]
        if {$offset < $hi && $lo < $offset + $range} { return [dict get $a slave] }
    }
    return ""
}

proc stub::add_address {mcell space master slave seg offset range} {
    lassign [split_path $slave] scell sintf
    dict lappend stub::S addresses [dict create name "/$mcell/[lindex [split $space /] 1]/SEG_${scell}_$seg" \
        space $space master $master slave "$slave/$seg" \
        offset [format 0x%08X $offset] range [format 0x%X $range]]
}

# Map every reachable, still unmapped slave segment into the address space of each master: a fixed
# slave at its offset, a floating one at the first free offset (aligned to its range) in the
# master's aperture.
proc stub::auto_assign {} {
    foreach cell [dict get $stub::S cell_order] {
        dict for {iname info} [stub::cell_intfs $cell] {
            lassign $info mode protocol sp mbase - aperture
            if {$mode ne "master" || $protocol ne "aximm" || $sp eq ""} continue
            set space "$cell/$sp"
            foreach slave [stub::reachable "$cell/$iname"] {
                lassign [stub::intf_info $slave] - - - sbase seg range
                if {[lsearch -exact [lmap a [dict get $stub::S addresses] {
                        expr {[dict get $a space] eq $space ? [dict get $a slave] : [continue]}}] "$slave/$seg"] >= 0} {
                    continue
                }
                if {$sbase ne ""} {
                    set offset $sbase
                } else {
                    set offset [expr {$mbase eq "" ? 0 : $mbase}]
                    while {[stub::overlapping $space $offset $range] ne ""} { incr offset $range }
                    if {$aperture ne "" && $offset + $range > $mbase + $aperture} {
                        stub::error_like_vivado "BD 41-1274" "no room for $slave/$seg in the window of $cell/$iname"
                    }
                }
                stub::add_address $cell $space "$cell/$iname" $slave $seg $offset $range
            }
        }
    }
}

# assign_bd_address -offset O -range R -target_address_space SPACE SEG ?-force?: SEG (a slave
# segment, /cell/intf/seg) at O in SPACE, checked as Vivado checks it
proc stub::assign_explicit {space seg offset range force} {
    set space [string trimleft $space /]
    lassign [split_path $space] mcell sp
    set parts [split [string trimleft $seg /] /]
    if {[llength $parts] != 3} {
        stub::error_like_vivado "BD 41-1244" "'$seg' is not a slave segment (expected /cell/interface/segment)"
    }
    lassign $parts scell sintf sseg
    set slave "$scell/$sintf"
    set sinfo [stub::intf_info $slave]
    if {$sinfo eq "" || [lindex $sinfo 0] ne "slave" || [lindex $sinfo 4] ne $sseg} {
        stub::error_like_vivado "BD 41-1244" "no slave segment '$seg' in the block design"
    }
    lassign $sinfo - - - sbase - srange
    set master ""
    if {[dict exists $stub::S cells $mcell]} {
        dict for {iname info} [stub::cell_intfs $mcell] {
            lassign $info mode protocol msp mbase - aperture
            if {$mode eq "master" && $msp eq $sp && $slave in [stub::reachable "$mcell/$iname"]} {
                set master "$mcell/$iname"
                break
            }
        }
    }
    if {$master eq ""} {
        stub::error_like_vivado "BD 41-1263" "slave segment '$seg' is not reachable from address space '/$space': connect its interface to a master of that space first"
    }
    set offset [expr {$offset}]
    set range [stub::parse_range $range]
    if {$range <= 0 || ($range & ($range - 1))} {
        stub::error_like_vivado "BD 41-1273" "range [format 0x%X $range] of '$seg' is not a power of two"
    }
    if {$range < $srange} {
        stub::error_like_vivado "BD 41-1273" "range [format 0x%X $range] is smaller than the [format 0x%X $srange] bytes of '$seg'"
    }
    if {$offset % $range} {
        stub::error_like_vivado "BD 41-1275" "offset [format 0x%08X $offset] of '$seg' is not aligned to its range [format 0x%X $range]"
    }
    if {$sbase ne "" && $offset != $sbase} {
        stub::error_like_vivado "BD 41-1275" "'$seg' has the fixed offset $sbase"
    }
    if {$aperture ne "" && ($offset < $mbase || $offset + $range > $mbase + $aperture)} {
        stub::error_like_vivado "BD 41-1274" [format "offset 0x%08X (range 0x%X) of '%s' lies outside the window 0x%08X-0x%08X of the master %s" \
            $offset $range $seg $mbase [expr {$mbase + $aperture - 1}] $master]
    }
    set assigned [lmap a [dict get $stub::S addresses] {
        expr {[dict get $a space] eq $space && [dict get $a slave] eq "$slave/$sseg" ? $a : [continue]}}]
    if {[llength $assigned] && !$force} {
        stub::error_like_vivado "BD 41-1276" "'$seg' is already assigned in '/$space' (use -force to move it)"
    }
    set other [stub::overlapping $space $offset $range "$slave/$sseg"]
    if {$other ne ""} {
        stub::error_like_vivado "BD 41-971" [format "segment '%s' at 0x%08X overlaps '%s' in '/%s'" $seg $offset $other $space]
    }
    dict set stub::S addresses [lmap a [dict get $stub::S addresses] {
        expr {[dict get $a space] eq $space && [dict get $a slave] eq "$slave/$sseg" ? [continue] : $a}}]
    stub::add_address $mcell $space $master $slave $sseg $offset $range
}

proc assign_bd_address {args} {
    stub::call assign_bd_address
    lassign [stub::strip_options $args {-offset -range -target_address_space -dict -base_high
                                        -import_from_file -export_to_file -export_gui_to_file}] opts pos
    set segs [concat {*}$pos]
    if {[llength $segs] == 0} {
        stub::auto_assign
        return
    }
    foreach key {-offset -range -target_address_space} {
        if {![dict exists $opts $key]} {
            stub::error_like_vivado "BD 5-xxx" "stub: assign_bd_address <segment> is modelled with -offset, -range and -target_address_space only"
        }
    }
    foreach seg $segs {
        stub::assign_explicit [dict get $opts -target_address_space] $seg [dict get $opts -offset] \
            [dict get $opts -range] [dict exists $opts -force]
    }
    return $segs
}

proc get_bd_addr_spaces {path} {
    lassign [stub::split_path $path] cell space
    if {[dict exists $stub::S cells $cell]} {
        dict for {iname info} [stub::cell_intfs $cell] {
            if {[lindex $info 2] eq $space} { return "/$cell/$space" }
        }
    }
    return ""
}

# get_bd_addr_segs -of_objects <address space>: its master segments (the assigned ones);
# -of_objects <slave interface pin>: its slave segment(s), /cell/intf/seg
proc get_bd_addr_segs {args} {
    lassign [stub::strip_options $args {-of_objects}] opts pos
    set out {}
    if {[dict exists $opts -of_objects]} {
        foreach obj [dict get $opts -of_objects] {
            set obj [string trimleft $obj /]
            set info [stub::intf_info $obj]
            if {$info ne ""} {
                if {[lindex $info 0] eq "slave" && [lindex $info 4] ne ""} { lappend out "/$obj/[lindex $info 4]" }
                continue
            }
            foreach a [dict get $stub::S addresses] {
                if {[dict get $a space] eq $obj} { lappend out [dict get $a name] }
            }
        }
    }
    return $out
}

proc validate_bd_design {args} { stub::call validate_bd_design; dict set stub::S validated 1 }
proc save_bd_design {args} { stub::call save_bd_design; dict set stub::S saved 1 }

# -- files, runs, outputs ------------------------------------------------------------------------------
proc get_files {args} {
    lassign [stub::strip_options $args {-of_objects -filter}] opts pos
    set pattern [lindex $pos 0]
    set bd [dict get $stub::S bd_file]
    if {$bd ne "" && ([string match *$pattern $bd] || $pattern eq [file tail $bd])} { return $bd }
    return ""
}

proc make_wrapper {args} {
    stub::call make_wrapper
    lassign [stub::strip_options $args {-files}] opts pos
    if {![dict exists $opts -files] || [dict get $opts -files] eq ""} {
        stub::error_like_vivado "BD 5-xxx" "make_wrapper: -files <bd file> is required"
    }
    set p [dict get $stub::S project]
    set bd [dict get $stub::S bd_design]
    set wrapper [file join [dict get $p dir] [dict get $p name].gen sources_1 bd $bd hdl ${bd}_wrapper.v]
    dict set stub::S wrapper $wrapper
    return $wrapper
}

proc add_files {args} {
    stub::call add_files
    lassign [stub::strip_options $args {-fileset}] opts pos
    set files [concat {*}$pos]
    foreach f $files {
        # the HDL wrapper is the one generated file the stub does not write
        if {$f ne [dict get $stub::S wrapper] && ![file exists $f]} {
            stub::error_like_vivado "Vivado 12-172" "File or Directory '$f' does not exist"
        }
    }
    dict lappend stub::S added_files {*}$files
}
proc update_compile_order {args} { stub::call update_compile_order; dict set stub::S compile_order 1 }
proc get_runs {args} {
    lassign [stub::strip_options $args {-filter}] opts pos
    return [lindex $pos 0]
}

proc launch_runs {args} {
    stub::call launch_runs
    lassign [stub::strip_options $args {-to_step -jobs -next_step}] opts pos
    foreach run $pos {
        dict lappend stub::S runs [dict create run $run \
            to_step [expr {[dict exists $opts -to_step] ? [dict get $opts -to_step] : ""}] \
            jobs [expr {[dict exists $opts -jobs] ? [dict get $opts -jobs] : ""}]]
    }
}

proc stub::placeholder {path what} {
    file mkdir [file dirname $path]
    set fh [open $path w]
    puts $fh "labkit Vivado stub: placeholder for $what, NOT real Vivado output"
    close $fh
}

proc wait_on_run {args} {
    stub::call wait_on_run
    lassign [stub::strip_options $args {-timeout}] opts pos
    set run [lindex $pos 0]
    dict lappend stub::S waited $run
    foreach r [dict get $stub::S runs] {
        if {[dict get $r run] eq $run && [dict get $r to_step] eq "write_bitstream"} {
            set p [dict get $stub::S project]
            set bd [dict get $stub::S bd_design]
            set top [dict get $stub::S top]
            stub::placeholder [file join [get_property DIRECTORY $run] $top.bit] "the bitstream"
            stub::placeholder [file join [dict get $p dir] [dict get $p name].gen sources_1 bd $bd \
                                   hw_handoff $bd.hwh] "the hardware handoff"
        }
    }
}

proc write_hw_platform {args} {
    stub::call write_hw_platform
    lassign [stub::strip_options $args {-file}] opts pos
    set path [expr {[dict exists $opts -file] ? [dict get $opts -file] : [lindex $pos end]}]
    dict set stub::S hw_platform [file normalize $path]
    dict set stub::S hw_platform_options [lsort [dict keys $opts]]
    stub::placeholder $path "the hardware platform (.xsa)"
}

proc close_project {args} { stub::call close_project; dict set stub::S closed 1 }

# -- JSON dump ----------------------------------------------------------------------------------------------
proc stub::js {s} {
    return "\"[string map {\\ \\\\ \" \\\" \n \\n \r \\r \t \\t} $s]\""
}
proc stub::js_list {items} { return "\[[join [lmap i $items {js $i}] ,]\]" }
proc stub::js_obj {d} {
    set parts {}
    dict for {k v} $d { lappend parts "[js $k]:[js $v]" }
    return "{[join $parts ,]}"
}

proc stub::dump_json {path extra} {
    variable S
    set cells {}
    foreach cell [dict get $S cell_order] {
        set c [dict get $S cells $cell]
        set pins {}
        dict for {name info} [cell_pins $cell] {
            lassign $info dir type required
            lappend pins "[js $name]:{\"dir\":[js $dir],\"type\":[js $type],\"required\":[expr {$required ? "true" : "false"}]}"
        }
        set intfs {}
        dict for {name info} [cell_intfs $cell] {
            lassign $info mode protocol space
            lappend intfs "[js $name]:{\"mode\":[js $mode],\"protocol\":[js $protocol],\"space\":[js $space]}"
        }
        set config [dict create]
        foreach {k v} [dict get $c spec defaults] { dict set config $k $v }
        foreach {k v} [dict get $c config] { dict set config $k $v }
        lappend cells "[js $cell]:{\"vlnv\":[js [dict get $c vlnv]],\"type\":[js [dict get $c type]],\"reference\":[js [dict get $c reference]],\"config\":[js_obj $config],\"interconnect\":[expr {[is_interconnect $cell] ? "true" : "false"}],\"pins\":{[join $pins ,]},\"intfs\":{[join $intfs ,]}}"
    }
    set nets [lmap n [dict get $S nets] {
        set drv [lmap p $n {expr {[lindex [pin_info $p] 0] eq "out" ? $p : [continue]}}]
        string cat "{\"driver\":" [expr {[llength $drv] ? [js [lindex $drv 0]] : "null"}] ",\"pins\":" [js_list $n] "}"
    }]
    set intf_nets [lmap n [dict get $S intf_nets] {
        string cat "{\"master\":" [js [lindex $n 0]] ",\"slave\":" [js [lindex $n 1]] "}"
    }]
    set auto [lmap a [dict get $S automation] {
        string cat "{\"rule\":" [js [dict get $a rule]] ",\"config\":" [js [dict get $a config]] \
            ",\"target\":" [js [dict get $a target]] "}"
    }]
    set addrs [lmap a [dict get $S addresses] {
        string cat "{\"space\":" [js [dict get $a space]] ",\"master\":" [js [dict get $a master]] \
            ",\"slave\":" [js [dict get $a slave]] ",\"offset\":" [js [dict get $a offset]] \
            ",\"range\":" [js [dict get $a range]] "}"
    }]
    set runs [lmap r [dict get $S runs] {
        string cat "{\"run\":" [js [dict get $r run]] ",\"to_step\":" [js [dict get $r to_step]] \
            ",\"jobs\":" [js [dict get $r jobs]] "}"
    }]
    set p [dict get $S project]
    set project "null"
    if {$p ne ""} {
        set project "{\"name\":[js [dict get $p name]],\"dir\":[js [dict get $p dir]],\"part\":[js [dict get $p part]],\"board_part\":[js [dict get $p board_part]],\"ip_repo_paths\":[js_list [dict get $S ip_repo_paths]]}"
    }
    set fields [list \
        "\"vivado_version\":[js $stub::version]" \
        "\"project\":$project" \
        "\"ip_zips\":[js_list [dict get $S ip_zips]]" \
        "\"catalog_updates\":[dict get $S catalog_updates]" \
        "\"bd_design\":[js [dict get $S bd_design]]" \
        "\"cells\":{[join $cells ,]}" \
        "\"ports\":[js_list [dict keys [dict get $S ports]]]" \
        "\"nets\":\[[join $nets ,]\]" \
        "\"intf_nets\":\[[join $intf_nets ,]\]" \
        "\"automation\":\[[join $auto ,]\]" \
        "\"addresses\":\[[join $addrs ,]\]" \
        "\"validated\":[expr {[dict get $S validated] ? "true" : "false"}]" \
        "\"saved\":[expr {[dict get $S saved] ? "true" : "false"}]" \
        "\"wrapper\":[js [dict get $S wrapper]]" \
        "\"added_files\":[js_list [dict get $S added_files]]" \
        "\"top\":[js [dict get $S top]]" \
        "\"runs\":\[[join $runs ,]\]" \
        "\"waited\":[js_list [dict get $S waited]]" \
        "\"hw_platform\":[js [dict get $S hw_platform]]" \
        "\"closed\":[expr {[dict get $S closed] ? "true" : "false"}]" \
        "\"calls\":[js_list [dict get $S calls]]" \
    ]
    dict for {k v} $extra { lappend fields "[js $k]:$v" }
    set fh [open $path w]
    puts $fh "{[join $fields ,\n]}"
    close $fh
}
