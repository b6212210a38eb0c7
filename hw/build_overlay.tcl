# hw/build_overlay.tcl -- the labkit overlay (block design -> bitstream) for one board.
#
#   vivado -mode batch -source hw/build_overlay.tcl -tclargs <board> <ip_repo> <out_dir> ?<ip_kind>?
#
#   <board>    a [board:<key>] section of labkit/course.ini (pynq-z1, kv260, aup-zu3)
#   <ip_repo>  the folder with the classifier IP: the exported HLS IP (make ip -> artifacts/hls/ip),
#              or with ip_kind rtl the RTL twin's folder (labkit rtl build -> artifacts/rtl/ip)
#   <out_dir>  receives <overlay_name>.bit, .hwh (same basename, what PYNQ's Overlay() loads)
#              and .xsa; the Vivado project goes to <out_dir>/vivado
#   <ip_kind>  hls (default): the Vitis HLS IP by its VLNV; rtl: the Verilog files listed in
#              <ip_repo>/sources.f, added to the project, the classifier a module-reference cell
#              of course.ini [rtl] top.  Same port and interface names, so the rest is shared.
#
# Every number and name comes from labkit/course.ini, exported by labkit.emit as plain `set`
# lines in <out_dir>/params.tcl (LABKIT_PARAMS overrides the path), so the board driver (labkit),
# the HLS IP and this design agree; nothing is computed from course.ini here.  The design:
#
#   PS general-purpose master -> ctrl_interconnect -> DMA S_AXI_LITE, classifier s_axi_control
#   DMA M_AXIS_MM2S -> classifier in_stream ; classifier out_stream -> DMA S_AXIS_S2MM
#   DMA M_AXI_MM2S, M_AXI_S2MM -> mem_interconnect -> PS high-performance slave (DDR)
#   one PL clock (clock_mhz) for everything; rst_pl (proc_sys_reset) resets everything
#   the two register windows at the board's dma_base / ip_base (course.ini), the DDR mapped for the DMA
#
# Vivado releases: every Xilinx IP is created by its version-less VLNV (xilinx.com:ip:axi_dma, ...):
# create_bd_cell then takes the one version the running Vivado's catalogue has, so one script runs
# in 2023.2 ... 2025.2.  What differs between releases is data, course.ini [vivado:<release>]
# (params.tcl: vivado_ip_versions): the script prints the VLNV Vivado picked for each cell and
# warns when it is not the version listed there (its CONFIG names were checked for that version).
#
# Environment: LABKIT_PARAMS (path of params.tcl), LABKIT_VIVADO_JOBS (parallel jobs, default 4).
# The pytest suite runs this script in plain tclsh against recording stubs (hw/stubs/).

set script_dir [file dirname [file normalize [info script]]]

proc fail {message} {
    puts stderr "ERROR: \[labkit\] $message"
    exit 1
}

# -- arguments ----------------------------------------------------------------------------------
if {[info commands create_bd_design] eq ""} {
    puts stderr "ERROR: \[labkit\] this script runs inside Vivado: vivado -mode batch -source [info script] -tclargs <board> <ip_repo> <out_dir> ?hls|rtl?"
    exit 1
}
if {$argc != 3 && $argc != 4} {
    fail "usage: vivado -mode batch -source hw/build_overlay.tcl -tclargs <board> <ip_repo> <out_dir> ?hls|rtl? (got $argc arguments: $argv)"
}
lassign $argv board ip_repo out_dir ip_kind
if {$ip_kind eq ""} { set ip_kind hls }
if {$ip_kind ni {hls rtl}} {
    fail "unknown ip_kind '$ip_kind': use hls (the Vitis HLS IP) or rtl (the Verilog RTL twin)"
}
set ip_repo [file normalize $ip_repo]
set out_dir [file normalize $out_dir]

# -- params.tcl: course.ini exported by labkit (labkit.emit) ---------------------------------
# plain `set` lines; `labkit overlay` writes <out_dir>/params.tcl (LABKIT_PARAMS overrides the path)
if {[info exists ::env(LABKIT_PARAMS)] && $::env(LABKIT_PARAMS) ne ""} {
    set params_path $::env(LABKIT_PARAMS)
} else {
    set params_path [file join $out_dir params.tcl]
}
if {![file readable $params_path]} {
    fail "no params.tcl at '$params_path': run `labkit overlay --board $board` (it writes params.tcl from course.ini, then runs this script)"
}
set requested_board $board
source $params_path
if {$board ne $requested_board} {
    fail "$params_path was written for board '$board', not '$requested_board': run `labkit overlay --board $requested_board`"
}
set length_width $dma_length_width
if {$length_width > $dma_length_width_max} {
    fail "a batch of $max_batch pulses is $batch_bytes bytes, more than the AXI DMA's $dma_length_width_max-bit length register holds: lower max_batch in course.ini \[stream\]"
}

# -- Vivado version -----------------------------------------------------------------------------
set vivado_version [version -short]
set vivado_release [join [lrange [split $vivado_version .] 0 1] .]
if {$vivado_release ni $vivado_versions} {
    fail "Vivado $vivado_version is not supported: run this script with Vivado [join $vivado_versions { or }] (course.ini \[overlay\] vivado_versions) and export the classifier IP with the Vitis HLS of the same release"
}

set ip_versions [dict get $vivado_ip_versions $vivado_release]

puts "labkit: building overlay '$overlay_name' for $board ($part) with Vivado $vivado_version, $ip_kind classifier IP"
puts "labkit: clock $clock_mhz MHz, DMA length register $length_width bits ($max_batch pulses = $batch_bytes bytes)"

# The VLNV Vivado picked for a version-less create_bd_cell, compared with course.ini [vivado:*]
proc check_ip_version {cell} {
    global ip_versions vivado_version vivado_release
    set vlnv [get_property VLNV $cell]
    lassign [split $vlnv :] vendor library name version
    puts "labkit: [string trimleft $cell /] is $vlnv"
    if {[dict exists $ip_versions $name] && [dict get $ip_versions $name] ne $version} {
        puts "WARNING: \[labkit\] Vivado $vivado_version created $name $version, course.ini \[vivado:$vivado_release\] lists $name [dict get $ip_versions $name]: check the CONFIG names this script sets on [string trimleft $cell /] against that IP version, then update ip_versions"
    }
}

# -- helpers: look up a pin / interface pin and fail with its name when it does not exist ---------
proc pin {path} {
    set p [get_bd_pins -quiet $path]
    if {$p eq ""} { fail "block design pin '$path' does not exist (check the names in course.ini)" }
    return $p
}
proc intf {path} {
    set p [get_bd_intf_pins -quiet $path]
    if {$p eq ""} { fail "block design interface '$path' does not exist (check the names in course.ini)" }
    return $p
}

# Folders under $dir (inclusive) holding a component.xml (an IP-XACT packaged IP).
proc find_component_xml {dir {depth 4}} {
    set found [glob -nocomplain -directory $dir -types f component.xml]
    if {$depth > 0} {
        foreach sub [glob -nocomplain -directory $dir -types d *] {
            lappend found {*}[find_component_xml $sub [expr {$depth - 1}]]
        }
    }
    return $found
}

# The Verilog files of the RTL twin: <dir>/sources.f names them, one per line, relative to <dir>
# ('#' comments and blank lines ignored).
proc rtl_sources {dir} {
    set fix "build the RTL twin first (labkit rtl build, or make rtl)"
    set refix "rebuild the RTL twin (labkit rtl build, or make rtl)"
    if {![file isdirectory $dir]} {
        fail "RTL folder '$dir' does not exist: $fix, or pass its folder"
    }
    set list_file [file join $dir sources.f]
    if {![file isfile $list_file]} {
        fail "no sources.f in the RTL folder '$dir': $fix"
    }
    set fh [open $list_file r]
    set lines [split [read $fh] "\n"]
    close $fh
    set files {}
    set missing {}
    foreach line $lines {
        set line [string trim $line]
        if {$line eq "" || [string index $line 0] eq "#"} continue
        set path [file normalize [file join $dir $line]]
        if {[file isfile $path]} { lappend files $path } else { lappend missing $line }
    }
    if {[llength $missing]} {
        fail "$list_file names files that do not exist ([join $missing {, }]): $refix"
    }
    if {[llength $files] == 0} {
        fail "$list_file lists no Verilog files: $refix"
    }
    return $files
}

# -- project + classifier sources (HLS IP repository or RTL files) -------------------------------
if {$ip_kind eq "rtl"} {
    set rtl_files [rtl_sources $ip_repo]
} elseif {![file isdirectory $ip_repo]} {
    fail "IP repository '$ip_repo' does not exist: export the classifier IP first (make ip), or pass its folder"
} elseif {[llength [find_component_xml $ip_repo]] == 0} {
    set zips [glob -nocomplain -directory $ip_repo -types f *.zip]
    if {[llength $zips] == 0} {
        fail "no packaged IP (component.xml or .zip) in '$ip_repo': export the classifier IP first (make ip)"
    }
    foreach zip $zips {
        update_ip_catalog -add_ip $zip -repo_path $ip_repo
    }
}

file mkdir $out_dir
set proj_dir [file join $out_dir vivado]
create_project -force $overlay_name $proj_dir -part $part
if {[get_board_parts -quiet $board_part] eq ""} {
    fail "board part '$board_part' is not installed: add the board files (PYNQ-Z1: Digilent vivado-boards, set_param board.repoPaths; KV260: Vivado's XHub board store; AUP-ZU3: RealDigital's board files) and rerun"
}
set_property board_part $board_part [current_project]
if {$ip_kind eq "rtl"} {
    add_files -norecurse $rtl_files
    update_compile_order -fileset sources_1
    puts "labkit: RTL twin '$rtl_top' from [llength $rtl_files] Verilog file(s) in $ip_repo"
} else {
    set_property ip_repo_paths [list $ip_repo] [current_project]
    update_ip_catalog
    if {[get_ipdefs -filter "VLNV == $ip_vlnv"] eq ""} {
        fail "IP $ip_vlnv is not in '$ip_repo': re-export it (make ip) with the names from course.ini \[overlay\]"
    }
}

set bd_name $overlay_name
create_bd_design $bd_name

# -- processing system: board preset, then our ports and the PL clock ----------------------------
set ps_name "${ps_ip}_0"
set ps [create_bd_cell -type ip -vlnv $ps_vlnv $ps_name]
if {$ps_ip eq "processing_system7"} {
    # Zynq-7000: DDR and FIXED_IO become top-level ports; we connect the AXI ports ourselves
    apply_bd_automation -rule xilinx.com:bd_rule:$ps_ip \
        -config {make_external "FIXED_IO, DDR" apply_board_preset "1" Master "Disable" Slave "Disable"} $ps
} else {
    apply_bd_automation -rule xilinx.com:bd_rule:$ps_ip -config {apply_board_preset "1"} $ps
}
set ps_config [list CONFIG.$master_enable 1 CONFIG.$hp_enable 1 CONFIG.$pl_clk_freq_property $clock_mhz]
if {$clk_source_property ne ""} {
    # Kria: PYNQ expects the PL clock from IOPLL
    lappend ps_config CONFIG.$clk_source_property $clk_source
}
# the board preset may enable masters this design does not use (course.ini ps_unused); an unused
# master would leave its clock pin undriven, so switch them off
foreach property $ps_unused {
    lappend ps_config CONFIG.$property 0
}
set_property -dict $ps_config $ps
check_ip_version $ps

# -- the classifier (stage 3: HLS IP, or its RTL twin as a module reference), interconnects, reset --
# Both have the same port names; the RTL's X_INTERFACE_INFO attributes make Vivado infer the same
# interfaces, so everything below refers to $ip_name/<course.ini name> for either kind.
if {$ip_kind eq "rtl"} {
    set ip [create_bd_cell -type module -reference $rtl_top $ip_name]
} else {
    set ip [create_bd_cell -type ip -vlnv $ip_vlnv $ip_name]
}

set ctrl_ic [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect ctrl_interconnect]
set_property -dict [list CONFIG.NUM_SI 1 CONFIG.NUM_MI 2] $ctrl_ic
set mem_ic [create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect mem_interconnect]
set_property -dict [list CONFIG.NUM_SI 2 CONFIG.NUM_MI 1] $mem_ic
set rst [create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset rst_pl]
foreach cell [list $ctrl_ic $mem_ic $rst] { check_ip_version $cell }

# -- the PS ends of both paths: general-purpose master -> ctrl_interconnect -> classifier registers;
#    mem_interconnect -> PS high-performance slave (DDR).  The DMA's ends are wired with the DMA.
connect_bd_intf_net [intf $ps_name/$ps_master]       [intf ctrl_interconnect/S00_AXI]
connect_bd_intf_net [intf ctrl_interconnect/M01_AXI] [intf $ip_name/$ip_ctrl]
connect_bd_intf_net [intf mem_interconnect/M00_AXI]  [intf $ps_name/$hp_slave]

# -- AXI DMA: simple (register) mode, 32-bit streams, length register sized for max_batch, wired --
# [dma] begin (lab 05 prints the lines between these markers)
set dma [create_bd_cell -type ip -vlnv $dma_vlnv $dma_name]
set_property -dict [list \
    CONFIG.c_include_sg 0 \
    CONFIG.c_sg_include_stscntrl_strm 0 \
    CONFIG.c_include_mm2s 1 \
    CONFIG.c_include_s2mm 1 \
    CONFIG.c_sg_length_width $length_width \
    CONFIG.c_addr_width $dma_addr_width \
    CONFIG.c_m_axi_mm2s_data_width $word_bits \
    CONFIG.c_m_axis_mm2s_tdata_width $word_bits \
    CONFIG.c_m_axi_s2mm_data_width $word_bits \
    CONFIG.c_s_axis_s2mm_tdata_width $word_bits \
] $dma
connect_bd_intf_net [intf ctrl_interconnect/M00_AXI] [intf $dma_name/S_AXI_LITE]   ;# its registers
connect_bd_intf_net [intf $dma_name/M_AXIS_MM2S]     [intf $ip_name/$ip_in_stream]  ;# DDR -> classifier
connect_bd_intf_net [intf $ip_name/$ip_out_stream]   [intf $dma_name/S_AXIS_S2MM]   ;# classifier -> DDR
connect_bd_intf_net [intf $dma_name/M_AXI_MM2S]      [intf mem_interconnect/S00_AXI] ;# reads DDR
connect_bd_intf_net [intf $dma_name/M_AXI_S2MM]      [intf mem_interconnect/S01_AXI] ;# writes DDR
# [dma] end
check_ip_version $dma
if {[get_property CONFIG.c_sg_length_width $dma] != $length_width} {
    fail "the AXI DMA did not accept c_sg_length_width $length_width (got [get_property CONFIG.c_sg_length_width $dma])"
}

# -- one clock for everything ------------------------------------------------------------------------
connect_bd_net [pin $ps_name/$pl_clk] \
    [pin $ps_name/$ps_master_clk] [pin $ps_name/$hp_slave_clk] \
    [pin $dma_name/s_axi_lite_aclk] [pin $dma_name/m_axi_mm2s_aclk] [pin $dma_name/m_axi_s2mm_aclk] \
    [pin $ip_name/$ip_clk] \
    [pin ctrl_interconnect/aclk] [pin mem_interconnect/aclk] \
    [pin rst_pl/slowest_sync_clk]

# -- resets: PS PL reset -> proc_sys_reset -> every block, synchronous to the PL clock ---------
connect_bd_net [pin $ps_name/$pl_resetn] [pin rst_pl/ext_reset_in]
connect_bd_net [pin rst_pl/peripheral_aresetn] \
    [pin $dma_name/axi_resetn] [pin $ip_name/$ip_resetn] \
    [pin ctrl_interconnect/aresetn] [pin mem_interconnect/aresetn]

# The DMA (mm2s_introut, s2mm_introut) and classifier (interrupt) interrupt pins stay open: the
# labkit driver polls the DMA status register, once per direction per batch.

# -- addresses -----------------------------------------------------------------------------------------
# The two register windows go where course.ini puts them ([board:*] dma_base, ip_base: inside the
# general-purpose master's window), so the .hwh, the emulated overlay and the labs show one map.
# Each slave's segment is looked up from its interface, never by name: the HLS IP's register block
# is 'Reg', a module reference's is named by Vivado (e.g. 'reg0').  assign_bd_address then maps
# what is left (the DDR behind the HP slave, in both DMA address spaces).
# [addresses] begin (lab 05 prints the lines between these markers)
set ps_space [get_bd_addr_spaces $ps_name/Data]
foreach {slave base range} [list $dma_name/S_AXI_LITE $dma_base $dma_addr_range \
                                 $ip_name/$ip_ctrl     $ip_base  $ip_addr_range] {
    set seg [get_bd_addr_segs -of_objects [intf $slave]]
    if {[llength $seg] != 1} { fail "$slave has [llength $seg] address segments, expected one register block" }
    assign_bd_address -offset $base -range $range -target_address_space $ps_space $seg -force
}
assign_bd_address
# [addresses] end
foreach {space minimum} [list $ps_name/Data 2 $dma_name/Data_MM2S 1 $dma_name/Data_S2MM 1] {
    set segs [get_bd_addr_segs -of_objects [get_bd_addr_spaces $space]]
    foreach seg $segs {
        puts [format "labkit: %-28s %-44s offset %s range %s" $space $seg \
                  [get_property OFFSET $seg] [get_property RANGE $seg]]
    }
    if {[llength $segs] < $minimum} {
        fail "address space $space has [llength $segs] mapped segments, expected at least $minimum: a slave is not connected"
    }
}

validate_bd_design
save_bd_design

# -- HDL wrapper, synthesis, implementation, bitstream ----------------------------------------------
set bd_file [get_files $bd_name.bd]
# make_wrapper returns one path; add_files takes a list: [list ...] keeps a path with spaces or
# quotes one file
add_files -norecurse [list [make_wrapper -files $bd_file -top]]
set_property top ${bd_name}_wrapper [current_fileset]
update_compile_order -fileset sources_1

set jobs 4
if {[info exists ::env(LABKIT_VIVADO_JOBS)] && [string is integer -strict $::env(LABKIT_VIVADO_JOBS)]} {
    set jobs $::env(LABKIT_VIVADO_JOBS)
}
launch_runs impl_1 -to_step write_bitstream -jobs $jobs
wait_on_run impl_1
set run_dir [get_property DIRECTORY [get_runs impl_1]]
if {[get_property PROGRESS [get_runs impl_1]] ne "100%"} {
    fail "implementation stopped at [get_property PROGRESS [get_runs impl_1]]: read $run_dir/runme.log"
}
set wns [get_property STATS.WNS [get_runs impl_1]]
if {$wns ne "" && $wns < 0} {
    puts "CRITICAL WARNING: \[labkit\] timing not met (WNS $wns ns at $clock_mhz MHz): lower clock_mhz or the IP's reuse factor"
}

# -- outputs: <name>.bit and <name>.hwh side by side (PYNQ pairs them by basename), <name>.xsa ----
set bit_file [file join $run_dir ${bd_name}_wrapper.bit]
set hwh_file ""
foreach where {gen srcs} {
    set candidate [file join $proj_dir $overlay_name.$where sources_1 bd $bd_name hw_handoff $bd_name.hwh]
    if {[file exists $candidate]} { set hwh_file $candidate; break }
}
if {![file exists $bit_file]} { fail "no bitstream at $bit_file: read $run_dir/runme.log" }
if {$hwh_file eq ""} { fail "no hardware handoff (.hwh) for $bd_name under $proj_dir" }

file copy -force $bit_file [file join $out_dir $overlay_name.bit]
file copy -force $hwh_file [file join $out_dir $overlay_name.hwh]
write_hw_platform -fixed -include_bit -force -file [file join $out_dir $overlay_name.xsa]

foreach ext {bit hwh xsa} {
    puts "labkit: wrote [file join $out_dir $overlay_name.$ext]"
}
close_project
