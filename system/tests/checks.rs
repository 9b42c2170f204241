//! The checker against the example descriptions and the real board device trees: the good
//! examples resolve to the expected plan, and every bad example in `examples/bad/` fails with
//! exactly the errors its `# expect:` lines list.

use hm_bus::class::ClassSet;
use hm_system::plan::{Restart, Role};
use hm_system::{BoardName, Plan, Problem, check_source};
use hmk_platform::region::Region;
use std::path::{Path, PathBuf};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn passes(source: &str, board: Option<BoardName>) -> Plan {
    match check_source(source, board) {
        Ok(plan) => plan,
        Err(problems) => panic!("expected a plan, got:\n{}", lines(&problems).join("\n")),
    }
}

fn fails(source: &str, board: Option<BoardName>) -> Vec<String> {
    match check_source(source, board) {
        Ok(plan) => panic!("expected errors, got a plan:\n{plan}"),
        Err(problems) => lines(&problems),
    }
}

fn lines(problems: &[Problem]) -> Vec<String> {
    problems.iter().map(Problem::to_string).collect()
}

/// Checks `examples/bad/<name>.toml` and compares its errors with its `# expect:` lines.
fn bad_example(name: &str) {
    let source = read(&examples().join("bad").join(format!("{name}.toml")));
    let expected: Vec<String> =
        source.lines().filter_map(|l| l.strip_prefix("# expect: ")).map(str::to_string).collect();
    assert!(!expected.is_empty(), "{name}.toml lists no expected error");
    assert_eq!(fails(&source, None), expected, "{name}.toml");
}

const BAD_EXAMPLES: [&str; 16] = [
    "budgets",
    "classes",
    "cycles",
    "devices-rpi4",
    "devices-virt",
    "irqs",
    "memberships",
    "memory",
    "names",
    "no-board",
    "no-root",
    "parents",
    "priorities",
    "restart",
    "syntax",
    "two-roots",
];

#[test]
fn every_bad_example_is_tested() {
    let mut found: Vec<String> = std::fs::read_dir(examples().join("bad"))
        .expect("examples/bad")
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".toml").map(str::to_string))
        .collect();
    found.sort();
    assert_eq!(found, BAD_EXAMPLES);
}

#[test]
fn duplicate_and_reserved_names() {
    bad_example("names");
}

#[test]
fn parents_exist_and_are_the_right_kind() {
    bad_example("parents");
}

#[test]
fn parent_graphs_have_no_cycle() {
    bad_example("cycles");
}

#[test]
fn exactly_one_root_bus() {
    bad_example("two-roots");
    bad_example("no-root");
}

#[test]
fn priorities_in_range_and_not_above_the_parent() {
    bad_example("priorities");
}

#[test]
fn budgets_within_periods() {
    bad_example("budgets");
}

#[test]
fn classes_and_filters() {
    bad_example("classes");
}

#[test]
fn memberships_name_buses() {
    bad_example("memberships");
}

#[test]
fn shared_memory_regions_exist_and_are_mapped_once() {
    bad_example("memory");
}

#[test]
fn restart_policies() {
    bad_example("restart");
}

#[test]
fn devices_on_virt() {
    bad_example("devices-virt");
}

#[test]
fn devices_on_rpi4() {
    bad_example("devices-rpi4");
}

#[test]
fn interrupts() {
    bad_example("irqs");
}

#[test]
fn unknown_keys_and_boards() {
    bad_example("syntax");
    bad_example("no-board");
}

#[test]
fn virt_example_resolves_the_pl011() {
    let plan = passes(&read(&examples().join("virt.toml")), None);
    assert_eq!(plan.board, BoardName::Virt);
    assert_eq!(plan.model, "linux,dummy-virt");
    let uart = &plan.modules[0];
    assert_eq!(uart.name, "uart");
    assert_eq!(uart.devices.len(), 1);
    assert_eq!(uart.devices[0].node, "/pl011@9000000");
    assert_eq!(uart.devices[0].regions, vec![Region::with_size(0x0900_0000, 0x1000)]);
    assert_eq!(uart.irqs, vec![33]);
    assert_eq!(uart.restart, Restart::Always { max: 3, window_ms: 1000 });
    assert_eq!(uart.memberships, vec![("devices".to_string(), 2)]);

    let console = &plan.modules[1];
    assert_eq!(console.restart, Restart::OnFault { max: 3, window_ms: 1000 }, "defaults");
    assert_eq!(plan.modules[2].parent, "console");
    assert_eq!(plan.modules[2].restart, Restart::Never);

    let root = &plan.buses[0];
    assert_eq!(root.parent, None);
    let roles: Vec<&Role> = root.members.iter().map(|m| &m.role).collect();
    assert!(matches!(roles[0], Role::Module { name, .. } if name == "console"));
    assert!(matches!(roles[1], Role::Module { name, .. } if name == "shell"));
    let mut down = ClassSet::EMPTY;
    down.insert(16);
    assert_eq!(roles[2], &Role::DownLink { child_bus: "devices".into(), filter: down });
    assert_eq!(root.members.iter().map(|m| m.id).collect::<Vec<_>>(), vec![1, 2, 3]);

    let devices = &plan.buses[1];
    let mut up = ClassSet::EMPTY;
    up.insert(16);
    up.insert(17);
    assert_eq!(devices.members[0].role, Role::UpLink { parent_bus: "root".into(), filter: up });
    assert_eq!(devices.members[1].id, 2);

    let table = plan.to_string();
    assert!(table.contains("/pl011@9000000 0x09000000..0x09001000  33"), "{table}");
    assert!(table.contains("bridge to devices  down link  down: 16"), "{table}");
}

#[test]
fn rpi4_example_resolves_uart0_through_soc_ranges() {
    let plan = passes(&read(&examples().join("rpi4.toml")), None);
    assert_eq!(plan.board, BoardName::Rpi4);
    assert_eq!(plan.model, "Raspberry Pi 4 Model B");
    let uart = &plan.modules[0];
    assert_eq!(uart.devices[0].node, "/soc/serial@7e201000");
    assert_eq!(uart.devices[0].regions, vec![Region::with_size(0xfe20_1000, 0x200)]);
    assert_eq!(uart.devices[0].frames(), vec![Region::with_size(0xfe20_1000, 0x1000)]);
    assert_eq!(uart.irqs, vec![153]);
}

/// A one-module system on `board` claiming `device` with `irqs`.
fn single_module(board: &str, device: &str, irqs: &str) -> String {
    format!(
        "[system]\nname = \"one\"\nboard = \"{board}\"\n[[bus]]\nname = \"root\"\n[[module]]\nname = \"m\"\n\
         priority = 1\nbudget_us = 1\nperiod_us = 1\ndevices = [{device}]\nirqs = [{irqs}]\n"
    )
}

#[test]
fn every_way_of_naming_the_virt_uart_resolves_to_it() {
    for device in [
        "{ compatible = \"arm,pl011\" }",
        "{ compatible = \"arm,pl011\", index = 0 }",
        "{ name = \"pl011@9000000\" }",
        "{ name = \"pl011\" }",
        "{ name = \"/pl011@9000000\" }",
        "{ address = 0x9000000, size = 0x1000 }",
    ] {
        let plan = passes(&single_module("virt", device, "\"from-device\""), None);
        let module = &plan.modules[0];
        assert_eq!(module.devices[0].node, "/pl011@9000000", "{device}");
        assert_eq!(module.devices[0].regions[0].start, 0x0900_0000, "{device}");
        assert_eq!(module.irqs, vec![33], "{device}");
    }
}

#[test]
fn explicit_address_inside_a_device_takes_only_that_range() {
    let plan = passes(&single_module("rpi4", "{ address = 0xfe201000, size = 0x100 }", ""), None);
    let device = &plan.modules[0].devices[0];
    assert_eq!(device.node, "/soc/serial@7e201000");
    assert_eq!(device.regions, vec![Region::with_size(0xfe20_1000, 0x100)]);
    assert!(plan.modules[0].irqs.is_empty());
}

#[test]
fn interrupts_by_name_from_interrupt_names() {
    // The Pi 4's PCIe root complex: interrupts SPI 147 ("pcie") and SPI 148 ("msi").
    let pcie = "{ name = \"pcie@7d500000\" }";
    let plan = passes(&single_module("rpi4", pcie, "{ name = \"msi\" }"), None);
    assert_eq!(plan.modules[0].irqs, vec![180]);
    let plan = passes(&single_module("rpi4", pcie, "{ name = \"msi\" }, { name = \"pcie\" }"), None);
    assert_eq!(plan.modules[0].irqs, vec![180, 179]);
    assert_eq!(
        fails(&single_module("rpi4", pcie, "{ name = \"wakeup\" }"), None),
        vec!["line 12: module \"m\": none of its devices has an interrupt named \"wakeup\""]
    );
    // The virt UART's interrupt has no name.
    assert_eq!(
        fails(&single_module("virt", "{ compatible = \"arm,pl011\" }", "{ name = \"rx\" }"), None),
        vec!["line 12: module \"m\": none of its devices has an interrupt named \"rx\""]
    );
}

#[test]
fn explicit_intids_below_the_line_count() {
    let plan = passes(&single_module("virt", "", "40, 287"), None);
    assert_eq!(plan.modules[0].irqs, vec![40, 287]);
    let plan = passes(&single_module("rpi4", "", "223"), None);
    assert_eq!(plan.modules[0].irqs, vec![223]);
    assert_eq!(
        fails(&single_module("rpi4", "", "224"), None),
        vec!["line 12: module \"m\": INTID 224 is not below 224, the GIC's line count on rpi4"]
    );
}

#[test]
fn board_on_the_command_line_wins() {
    let plan = passes(&read(&examples().join("virt.toml")), Some(BoardName::Rpi4));
    assert_eq!(plan.board, BoardName::Rpi4);
    assert_eq!(plan.modules[0].devices[0].regions[0].start, 0xfe20_1000);
    assert_eq!(plan.modules[0].irqs, vec![153]);

    let no_board = "[system]\nname = \"x\"\n[[bus]]\nname = \"root\"\n";
    assert_eq!(
        fails(no_board, None),
        vec!["line 2: system: no board: set system.board (virt or rpi4) or pass --board"]
    );
    assert_eq!(passes(no_board, Some(BoardName::Virt)).buses[0].members, vec![]);
}

/// A system with `modules` modules on bus `root`, and a child bus when `with_child`.
fn crowded(modules: usize, with_child: bool) -> String {
    let mut text = String::from("[system]\nname = \"crowd\"\nboard = \"virt\"\n[[bus]]\nname = \"root\"\n");
    if with_child {
        text.push_str("[[bus]]\nname = \"child\"\nparent = \"root\"\n");
    }
    for i in 0..modules {
        text.push_str(&format!(
            "[[module]]\nname = \"m{i}\"\npriority = 1\nbudget_us = 1\nperiod_us = 1\nbuses = [\"root\"]\n"
        ));
    }
    text
}

#[test]
fn at_most_63_members_per_bus_bridges_included() {
    let plan = passes(&crowded(63, false), None);
    assert_eq!(plan.buses[0].members.last().map(|m| m.id), Some(63));
    assert_eq!(plan.modules[62].memberships, vec![("root".to_string(), 63)]);
    passes(&crowded(62, true), None);
    assert_eq!(
        fails(&crowded(64, false), None),
        vec!["line 5: bus \"root\" has 64 members counting its bridges; a bus has at most 63"]
    );
    assert_eq!(
        fails(&crowded(63, true), None),
        vec!["line 5: bus \"root\" has 64 members counting its bridges; a bus has at most 63"]
    );
}

#[test]
fn all_problems_are_reported_in_line_order() {
    let source = "[system]\nname = \"many\"\nboard = \"virt\"\n[[bus]]\nname = \"root\"\n\
                  [[module]]\nname = \"m\"\npriority = 999\nbudget_us = 0\nperiod_us = 1\nbuses = [\"nope\"]\n";
    assert_eq!(
        fails(source, None),
        vec![
            "line 8: module \"m\": priority 999 is outside 0..=255",
            "line 9: module \"m\": budget_us 0 must be above 0",
            "line 11: module \"m\": bus \"nope\" does not exist",
        ]
    );
}

#[test]
fn a_toml_syntax_error_names_its_line() {
    let problems = fails("[system]\nname = \"x\"\nboard = virt\n", None);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].starts_with("line 3: "), "{problems:?}");
}
