# hw/stubs/run_stubbed.tcl -- run a Vivado build script in plain tclsh against the recording stubs.
#
#   tclsh hw/stubs/run_stubbed.tcl ?-version 2024.1? ?-ip name=version ...? -record design.json -- \
#         hw/build_overlay.tcl <board> <ip_repo> <out_dir> ?hls|rtl?
#
# Sources vivado_stubs.tcl, registers the classifier IP (its interface names from course.ini,
# as the HLS export names them) and its RTL twin (module course.ini [rtl] top, same ports), runs
# the script with Vivado's argv/argc and writes the recorded design as JSON, also when the
# script stops with an error (exit code and message included).
# labkit.blockdesign.build.record_design() wraps this.

set here [file dirname [file normalize [info script]]]
source [file join $here vivado_stubs.tcl]

set version 2024.1
set record ""
set ip_pins {}
set rest $argv
while {[llength $rest]} {
    set rest [lassign $rest flag]
    switch -- $flag {
        -version { set rest [lassign $rest version] }
        -ip      { set rest [lassign $rest ip_pin]; lappend ip_pins {*}[split $ip_pin =] }
        -record  { set rest [lassign $rest record] }
        --       { break }
        default  { puts stderr "usage: tclsh run_stubbed.tcl ?-version V? ?-ip name=version? -record out.json -- script.tcl args..."; exit 2 }
    }
}
if {$record eq "" || [llength $rest] < 1} {
    puts stderr "usage: tclsh run_stubbed.tcl ?-version V? ?-ip name=version? -record out.json -- script.tcl args..."
    exit 2
}
set script [file normalize [lindex $rest 0]]
set script_args [lrange $rest 1 end]
stub::set_version $version
foreach {name v} $ip_pins { stub::set_ip_version $name $v }

# the classifier IP as Vitis HLS exports it (interface names from params.tcl, the export of
# course.ini that the build script sources too: LABKIT_PARAMS)
if {![info exists ::env(LABKIT_PARAMS)] || ![file readable $::env(LABKIT_PARAMS)]} {
    puts stderr "run_stubbed.tcl: set LABKIT_PARAMS to a params.tcl written by labkit.emit"
    exit 2
}
namespace eval params { source $::env(LABKIT_PARAMS) }
proc classifier_spec {reg_segment reg_range} {
    return [list \
        defaults {} \
        pins [list \
            $params::ip_clk    {in clk 1 ""} \
            $params::ip_resetn {in rst 1 ""} \
            interrupt          {out intr 0 ""}] \
        intfs [list \
            $params::ip_ctrl       [list slave aximm "" "" $reg_segment $reg_range ""] \
            $params::ip_in_stream  {slave axis "" "" "" "" ""} \
            $params::ip_out_stream {master axis "" "" "" "" ""}]]
}
stub::register_ip $params::ip_vlnv [classifier_spec Reg $params::ip_addr_range]
# the RTL twin: same port names; Vivado names a module reference's register block itself (reg0)
stub::register_module $params::rtl_top [classifier_spec reg0 0x1000]

proc stub::finish {code message} {
    global record script_args
    set out_dir [lindex $script_args 2]
    set outputs {}
    if {$out_dir ne "" && [file isdirectory $out_dir]} {
        set outputs [lsort [glob -nocomplain -directory $out_dir -types f -tails *]]
    }
    stub::dump_json $record [dict create \
        exit_code $code \
        error [stub::js $message] \
        stderr [stub::js_list $stub::stderr_lines] \
        argv [stub::js_list $script_args] \
        out_dir [stub::js [expr {$out_dir eq "" ? "" : [file normalize $out_dir]}]] \
        outputs [stub::js_list $outputs]]
    stub::real_exit $code
}

# keep what the script reports on stderr (its error messages) for the record
set stub::stderr_lines {}
rename ::puts ::stub::real_puts
proc ::puts {args} {
    if {[llength $args] >= 2 && [lindex $args end-1] eq "stderr"} {
        lappend stub::stderr_lines [lindex $args end]
    }
    ::stub::real_puts {*}$args
}

# Vivado's batch mode: a script's `exit N` ends Vivado with status N
rename ::exit ::stub::real_exit
proc ::exit {{code 0}} { stub::finish $code "" }

set ::argv $script_args
set ::argc [llength $script_args]
set ::argv0 $script
if {[catch {uplevel #0 [list source $script]} message]} {
    # an uncaught error ends a Vivado batch run with status 1
    stub::real_puts stderr $message
    stub::finish 1 $message
}
stub::finish 0 ""
