{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 6,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   100.0,
   100.0,
   900.0,
   640.0
  ],
  "bglocked": 0,
  "openinpresentation": 1,
  "default_fontsize": 10.0,
  "default_fontface": 0,
  "default_fontname": "Arial",
  "gridonopen": 1,
  "gridsize": [
   8.0,
   8.0
  ],
  "gridsnaponopen": 1,
  "objectsnaponopen": 1,
  "statusbarvisible": 2,
  "toolbarvisible": 1,
  "devicewidth": 420.0,
  "description": "Soundalike: find samples that sound like the selected audio clip, preview them and load one.",
  "digest": "",
  "tags": "",
  "style": "",
  "boxes": [
   {
    "box": {
     "id": "obj-1",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 3,
     "patching_rect": [
      20.0,
      20.0,
      95.0,
      22.0
     ],
     "outlettype": [
      "bang",
      "int",
      "int"
     ],
     "text": "live.thisdevice"
    }
   },
   {
    "box": {
     "id": "obj-2",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20.0,
      50.0,
      35.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "init"
    }
   },
   {
    "box": {
     "id": "obj-3",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 7,
     "patching_rect": [
      20.0,
      330.0,
      400.0,
      22.0
     ],
     "outlettype": [
      "",
      "",
      "",
      "",
      "",
      "",
      ""
     ],
     "text": "js soundalike.js",
     "saved_object_attributes": {
      "filename": "soundalike.js",
      "parameter_enable": 0
     }
    }
   },
   {
    "box": {
     "id": "obj-4",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20.0,
      400.0,
      140.0,
      22.0
     ],
     "text": "udpsend 127.0.0.1 9000"
    }
   },
   {
    "box": {
     "id": "obj-5",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      480.0,
      20.0,
      100.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "udpreceive 9001"
    }
   },
   {
    "box": {
     "id": "obj-6",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      480.0,
      50.0,
      60.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "deferlow"
    }
   },
   {
    "box": {
     "id": "obj-7",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      600.0,
      20.0,
      80.0,
      20.0
     ],
     "presentation": 1,
     "presentation_rect": [
      4.0,
      2.0,
      80.0,
      18.0
     ],
     "text": "Soundalike",
     "fontface": 1
    }
   },
   {
    "box": {
     "id": "obj-8",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      420.0,
      400.0,
      300.0,
      20.0
     ],
     "presentation": 1,
     "presentation_rect": [
      84.0,
      2.0,
      330.0,
      18.0
     ],
     "text": "No clip selected"
    }
   },
   {
    "box": {
     "id": "obj-9",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      420.0,
      430.0,
      300.0,
      20.0
     ],
     "presentation": 1,
     "presentation_rect": [
      4.0,
      146.0,
      410.0,
      18.0
     ],
     "text": "Waiting for Live"
    }
   },
   {
    "box": {
     "id": "obj-10",
     "maxclass": "umenu",
     "numinlets": 1,
     "numoutlets": 3,
     "patching_rect": [
      200.0,
      400.0,
      200.0,
      22.0
     ],
     "outlettype": [
      "int",
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      4.0,
      22.0,
      300.0,
      22.0
     ],
     "items": [],
     "parameter_enable": 0,
     "varname": "results"
    }
   },
   {
    "box": {
     "id": "obj-11",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      200.0,
      440.0,
      80.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend pick"
    }
   },
   {
    "box": {
     "id": "obj-12",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      20.0,
      100.0,
      50.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      308.0,
      22.0,
      50.0,
      20.0
     ],
     "mode": 0,
     "text": "Find",
     "texton": "Find",
     "parameter_enable": 0,
     "varname": "btn_find"
    }
   },
   {
    "box": {
     "id": "obj-13",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20.0,
      130.0,
      50.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "search"
    }
   },
   {
    "box": {
     "id": "obj-14",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      80.0,
      100.0,
      50.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      362.0,
      22.0,
      50.0,
      20.0
     ],
     "mode": 0,
     "text": "Load",
     "texton": "Load",
     "parameter_enable": 0,
     "varname": "btn_load"
    }
   },
   {
    "box": {
     "id": "obj-15",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      80.0,
      130.0,
      50.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "load"
    }
   },
   {
    "box": {
     "id": "obj-16",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      140.0,
      100.0,
      50.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      4.0,
      48.0,
      50.0,
      20.0
     ],
     "mode": 0,
     "text": "Prev",
     "texton": "Prev",
     "parameter_enable": 0,
     "varname": "btn_prev"
    }
   },
   {
    "box": {
     "id": "obj-17",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      140.0,
      130.0,
      50.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prev"
    }
   },
   {
    "box": {
     "id": "obj-18",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      200.0,
      100.0,
      50.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      58.0,
      48.0,
      50.0,
      20.0
     ],
     "mode": 0,
     "text": "Next",
     "texton": "Next",
     "parameter_enable": 0,
     "varname": "btn_next"
    }
   },
   {
    "box": {
     "id": "obj-19",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      200.0,
      130.0,
      50.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "next"
    }
   },
   {
    "box": {
     "id": "obj-20",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      260.0,
      100.0,
      50.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      112.0,
      48.0,
      50.0,
      20.0
     ],
     "mode": 0,
     "text": "Play",
     "texton": "Play",
     "parameter_enable": 0,
     "varname": "btn_play"
    }
   },
   {
    "box": {
     "id": "obj-21",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      260.0,
      130.0,
      50.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "play"
    }
   },
   {
    "box": {
     "id": "obj-22",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      320.0,
      100.0,
      50.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      166.0,
      48.0,
      50.0,
      20.0
     ],
     "mode": 0,
     "text": "Stop",
     "texton": "Stop",
     "parameter_enable": 0,
     "varname": "btn_stop"
    }
   },
   {
    "box": {
     "id": "obj-23",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      320.0,
      130.0,
      50.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "stop"
    }
   },
   {
    "box": {
     "id": "obj-24",
     "maxclass": "live.toggle",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      20.0,
      180.0,
      15.0,
      15.0
     ],
     "outlettype": [
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      230.0,
      50.0,
      15.0,
      15.0
     ],
     "parameter_enable": 1,
     "varname": "Auto",
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Auto",
       "parameter_shortname": "Auto",
       "parameter_type": 2,
       "parameter_enum": [
        "off",
        "on"
       ],
       "parameter_mmax": 1,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        1
       ],
       "parameter_invisible": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-25",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      40.0,
      180.0,
      60.0,
      20.0
     ],
     "presentation": 1,
     "presentation_rect": [
      248.0,
      48.0,
      60.0,
      18.0
     ],
     "text": "Auto"
    }
   },
   {
    "box": {
     "id": "obj-26",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      20.0,
      210.0,
      90.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend auto"
    }
   },
   {
    "box": {
     "id": "obj-27",
     "maxclass": "live.toggle",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      120.0,
      180.0,
      15.0,
      15.0
     ],
     "outlettype": [
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      300.0,
      50.0,
      15.0,
      15.0
     ],
     "parameter_enable": 1,
     "varname": "Audition",
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Audition",
       "parameter_shortname": "Audition",
       "parameter_type": 2,
       "parameter_enum": [
        "off",
        "on"
       ],
       "parameter_mmax": 1,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        1
       ],
       "parameter_invisible": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-28",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      140.0,
      180.0,
      60.0,
      20.0
     ],
     "presentation": 1,
     "presentation_rect": [
      318.0,
      48.0,
      60.0,
      18.0
     ],
     "text": "Audition"
    }
   },
   {
    "box": {
     "id": "obj-29",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      120.0,
      210.0,
      90.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend audition"
    }
   },
   {
    "box": {
     "id": "obj-30",
     "maxclass": "live.numbox",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      20.0,
      250.0,
      50.0,
      15.0
     ],
     "outlettype": [
      "",
      "float"
     ],
     "presentation": 1,
     "presentation_rect": [
      130.0,
      90.0,
      50.0,
      15.0
     ],
     "parameter_enable": 1,
     "varname": "Daemon port",
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Daemon port",
       "parameter_shortname": "Daemon port",
       "parameter_type": 1,
       "parameter_mmin": 1,
       "parameter_mmax": 65535,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        9000
       ],
       "parameter_invisible": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-31",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      20.0,
      230.0,
      80.0,
      20.0
     ],
     "presentation": 1,
     "presentation_rect": [
      130.0,
      74.0,
      80.0,
      18.0
     ],
     "text": "Daemon port"
    }
   },
   {
    "box": {
     "id": "obj-32",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      20.0,
      280.0,
      110.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend port"
    }
   },
   {
    "box": {
     "id": "obj-33",
     "maxclass": "live.numbox",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      130.0,
      250.0,
      50.0,
      15.0
     ],
     "outlettype": [
      "",
      "float"
     ],
     "presentation": 1,
     "presentation_rect": [
      190.0,
      90.0,
      50.0,
      15.0
     ],
     "parameter_enable": 1,
     "varname": "Reply port",
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Reply port",
       "parameter_shortname": "Reply port",
       "parameter_type": 1,
       "parameter_mmin": 1,
       "parameter_mmax": 65535,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        9001
       ],
       "parameter_invisible": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-34",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      130.0,
      230.0,
      80.0,
      20.0
     ],
     "presentation": 1,
     "presentation_rect": [
      190.0,
      74.0,
      80.0,
      18.0
     ],
     "text": "Reply port"
    }
   },
   {
    "box": {
     "id": "obj-35",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      130.0,
      280.0,
      110.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend replyport"
    }
   },
   {
    "box": {
     "id": "obj-36",
     "maxclass": "live.numbox",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      240.0,
      250.0,
      50.0,
      15.0
     ],
     "outlettype": [
      "",
      "float"
     ],
     "presentation": 1,
     "presentation_rect": [
      250.0,
      90.0,
      40.0,
      15.0
     ],
     "parameter_enable": 1,
     "varname": "Results",
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Results",
       "parameter_shortname": "Results",
       "parameter_type": 1,
       "parameter_mmin": 1,
       "parameter_mmax": 100,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        10
       ],
       "parameter_invisible": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-37",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      240.0,
      230.0,
      80.0,
      20.0
     ],
     "presentation": 1,
     "presentation_rect": [
      250.0,
      74.0,
      80.0,
      18.0
     ],
     "text": "Results"
    }
   },
   {
    "box": {
     "id": "obj-38",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      240.0,
      280.0,
      110.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend count"
    }
   },
   {
    "box": {
     "id": "obj-39",
     "maxclass": "textedit",
     "numinlets": 1,
     "numoutlets": 4,
     "patching_rect": [
      350.0,
      250.0,
      100.0,
      20.0
     ],
     "outlettype": [
      "",
      "int",
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      4.0,
      90.0,
      120.0,
      18.0
     ],
     "text": "127.0.0.1",
     "varname": "host",
     "lines": 1,
     "keymode": 1,
     "wordwrap": 0
    }
   },
   {
    "box": {
     "id": "obj-40",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      350.0,
      230.0,
      80.0,
      20.0
     ],
     "presentation": 1,
     "presentation_rect": [
      4.0,
      74.0,
      80.0,
      18.0
     ],
     "text": "Daemon host"
    }
   },
   {
    "box": {
     "id": "obj-41",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      350.0,
      280.0,
      90.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend host"
    }
   },
   {
    "box": {
     "id": "obj-42",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 3,
     "patching_rect": [
      20.0,
      470.0,
      80.0,
      22.0
     ],
     "outlettype": [
      "signal",
      "signal",
      "bang"
     ],
     "text": "sfplay~ 2"
    }
   },
   {
    "box": {
     "id": "obj-43",
     "maxclass": "live.dial",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      150.0,
      470.0,
      40.0,
      48.0
     ],
     "outlettype": [
      "",
      "float"
     ],
     "presentation": 1,
     "presentation_rect": [
      380.0,
      110.0,
      36.0,
      36.0
     ],
     "parameter_enable": 1,
     "varname": "Preview",
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Preview",
       "parameter_shortname": "Preview",
       "parameter_type": 0,
       "parameter_mmax": 1.0,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        0.7
       ],
       "parameter_unitstyle": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-44",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      20.0,
      530.0,
      45.0,
      22.0
     ],
     "outlettype": [
      "signal"
     ],
     "text": "*~ 0.7"
    }
   },
   {
    "box": {
     "id": "obj-45",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      80.0,
      530.0,
      45.0,
      22.0
     ],
     "outlettype": [
      "signal"
     ],
     "text": "*~ 0.7"
    }
   },
   {
    "box": {
     "id": "obj-46",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 2,
     "patching_rect": [
      200.0,
      530.0,
      55.0,
      22.0
     ],
     "outlettype": [
      "signal",
      "signal"
     ],
     "text": "plugin~"
    }
   },
   {
    "box": {
     "id": "obj-47",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 0,
     "patching_rect": [
      20.0,
      580.0,
      60.0,
      22.0
     ],
     "text": "plugout~"
    }
   },
   {
    "box": {
     "id": "obj-48",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 6,
     "patching_rect": [
      160.0,
      440.0,
      60.0,
      22.0
     ],
     "outlettype": [
      "int",
      "int",
      "float",
      "float",
      "",
      ""
     ],
     "text": "sfinfo~"
    }
   },
   {
    "box": {
     "id": "obj-49",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      160.0,
      470.0,
      40.0,
      22.0
     ],
     "outlettype": [
      "int"
     ],
     "text": "== 1"
    }
   },
   {
    "box": {
     "id": "obj-50",
     "maxclass": "newobj",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      110.0,
      500.0,
      45.0,
      22.0
     ],
     "outlettype": [
      "signal"
     ],
     "text": "*~ 0.",
     "comment": "mono cross-feed: a one-channel file's only channel also goes right"
    }
   },
   {
    "box": {
     "id": "obj-51",
     "maxclass": "live.toggle",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      500.0,
      180.0,
      15.0,
      15.0
     ],
     "outlettype": [
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      4.0,
      116.0,
      15.0,
      15.0
     ],
     "parameter_enable": 1,
     "varname": "Swap",
     "saved_attribute_attributes": {
      "valueof": {
       "parameter_longname": "Swap",
       "parameter_shortname": "Swap",
       "parameter_type": 2,
       "parameter_enum": [
        "off",
        "on"
       ],
       "parameter_mmax": 1,
       "parameter_initial_enable": 1,
       "parameter_initial": [
        0
       ],
       "parameter_invisible": 1
      }
     }
    }
   },
   {
    "box": {
     "id": "obj-52",
     "maxclass": "comment",
     "numinlets": 1,
     "numoutlets": 0,
     "patching_rect": [
      520.0,
      180.0,
      120.0,
      20.0
     ],
     "presentation": 1,
     "presentation_rect": [
      22.0,
      114.0,
      150.0,
      18.0
     ],
     "text": "Swap: Prev/Next in Simpler"
    }
   },
   {
    "box": {
     "id": "obj-53",
     "maxclass": "newobj",
     "numinlets": 1,
     "numoutlets": 1,
     "patching_rect": [
      500.0,
      210.0,
      90.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "prepend swap"
    }
   },
   {
    "box": {
     "id": "obj-54",
     "maxclass": "live.text",
     "numinlets": 1,
     "numoutlets": 2,
     "patching_rect": [
      620.0,
      100.0,
      60.0,
      20.0
     ],
     "outlettype": [
      "",
      ""
     ],
     "presentation": 1,
     "presentation_rect": [
      176.0,
      113.0,
      60.0,
      20.0
     ],
     "mode": 0,
     "text": "Original",
     "texton": "Original",
     "parameter_enable": 0,
     "varname": "btn_original"
    }
   },
   {
    "box": {
     "id": "obj-55",
     "maxclass": "message",
     "numinlets": 2,
     "numoutlets": 1,
     "patching_rect": [
      620.0,
      130.0,
      60.0,
      22.0
     ],
     "outlettype": [
      ""
     ],
     "text": "original"
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-1",
      0
     ],
     "destination": [
      "obj-2",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-2",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-5",
      0
     ],
     "destination": [
      "obj-6",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-6",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      0
     ],
     "destination": [
      "obj-4",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      1
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      5
     ],
     "destination": [
      "obj-8",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      4
     ],
     "destination": [
      "obj-9",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      2
     ],
     "destination": [
      "obj-10",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-10",
      0
     ],
     "destination": [
      "obj-11",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-11",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-12",
      0
     ],
     "destination": [
      "obj-13",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-13",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-14",
      0
     ],
     "destination": [
      "obj-15",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-15",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-16",
      0
     ],
     "destination": [
      "obj-17",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-17",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-18",
      0
     ],
     "destination": [
      "obj-19",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-19",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-20",
      0
     ],
     "destination": [
      "obj-21",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-21",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-22",
      0
     ],
     "destination": [
      "obj-23",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-23",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-24",
      0
     ],
     "destination": [
      "obj-26",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-26",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-27",
      0
     ],
     "destination": [
      "obj-29",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-29",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-30",
      0
     ],
     "destination": [
      "obj-32",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-32",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-33",
      0
     ],
     "destination": [
      "obj-35",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-35",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-36",
      0
     ],
     "destination": [
      "obj-38",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-38",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-39",
      0
     ],
     "destination": [
      "obj-41",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-41",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      3
     ],
     "destination": [
      "obj-42",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-42",
      0
     ],
     "destination": [
      "obj-44",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-42",
      1
     ],
     "destination": [
      "obj-45",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-43",
      0
     ],
     "destination": [
      "obj-44",
      1
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-43",
      0
     ],
     "destination": [
      "obj-45",
      1
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-44",
      0
     ],
     "destination": [
      "obj-47",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-45",
      0
     ],
     "destination": [
      "obj-47",
      1
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-46",
      0
     ],
     "destination": [
      "obj-47",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-46",
      1
     ],
     "destination": [
      "obj-47",
      1
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      6
     ],
     "destination": [
      "obj-48",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-48",
      0
     ],
     "destination": [
      "obj-49",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-49",
      0
     ],
     "destination": [
      "obj-50",
      1
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-42",
      0
     ],
     "destination": [
      "obj-50",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-50",
      0
     ],
     "destination": [
      "obj-45",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-51",
      0
     ],
     "destination": [
      "obj-53",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-53",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-54",
      0
     ],
     "destination": [
      "obj-55",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-55",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   }
  ],
  "dependency_cache": [
   {
    "name": "soundalike.js",
    "bootpath": ".",
    "patcherrelativepath": ".",
    "type": "TEXT",
    "implicit": 1
   }
  ],
  "autosave": 0
 }
}
