# hw/ini.tcl -- a small INI reader for Tcl 8.6 (which has no ini/json package built in).
#
# Reads labkit/course.ini with the same rules as Python's configparser as labkit.config uses it:
#   [section] headers, "key = value" (or "key: value") lines, full-line comments starting with
#   ';' or '#', inline comments starting with ';' after whitespace, no interpolation, keys
#   case-insensitive (stored lower-case), values trimmed, empty values allowed.
#
#   set ini [ini::read labkit/course.ini]
#   ini::get $ini overlay ip_name            ;# -> clyc_classifier
#   ini::get $ini board:kv260 clk_source ""  ;# default when the key is missing
#   ini::list_value [ini::get $ini data class_names]   ;# "a, b" -> {a b}

namespace eval ini {}

proc ini::read {path} {
    if {![file readable $path]} {
        error "course.ini not found at '$path': run from a labkit checkout or set LABKIT_INI to labkit/course.ini"
    }
    set fh [open $path r]
    set text [::read $fh]
    close $fh

    set result [dict create]
    set section ""
    set lineno 0
    foreach line [split $text "\n"] {
        incr lineno
        set line [string trimright $line "\r"]
        set trimmed [string trim $line]
        if {$trimmed eq "" || [string index $trimmed 0] in {";" "#"}} {
            continue
        }
        if {[regexp {^\[([^\]]+)\]$} $trimmed -> name]} {
            set section [string trim $name]
            if {![dict exists $result $section]} {
                dict set result $section [dict create]
            }
            continue
        }
        if {![regexp {^([^=:]+?)\s*[=:]\s*(.*)$} $trimmed -> key value]} {
            error "$path:$lineno: cannot parse '$trimmed' (expected 'key = value')"
        }
        if {$section eq ""} {
            error "$path:$lineno: key '$key' appears before any \[section\] header"
        }
        # inline comment: ';' preceded by whitespace (configparser inline_comment_prefixes=(";",))
        regsub {\s+;.*$} $value "" value
        dict set result $section [string tolower [string trim $key]] [string trim $value]
    }
    return $result
}

# Value of section/key; without a default a missing key is an error that names the fix.
proc ini::get {ini section key args} {
    set key [string tolower $key]
    if {[dict exists $ini $section $key]} {
        return [dict get $ini $section $key]
    }
    if {[llength $args] == 1} {
        return [lindex $args 0]
    }
    if {![dict exists $ini $section]} {
        error "course.ini has no \[$section\] section (sections: [join [dict keys $ini] {, }])"
    }
    error "course.ini \[$section\] has no key '$key': add it (see labkit/config.py for its meaning)"
}

# "a, b, c" -> {a b c}  (same as labkit.config._list)
proc ini::list_value {value} {
    set out {}
    foreach item [split $value ","] {
        set item [string trim $item]
        if {$item ne ""} { lappend out $item }
    }
    return $out
}

# Board keys, in file order: sections named "board:<key>".
proc ini::boards {ini} {
    set out {}
    foreach section [dict keys $ini] {
        if {[string match "board:*" $section]} {
            lappend out [string range $section 6 end]
        }
    }
    return $out
}
