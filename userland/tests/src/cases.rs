//! The test cases: every CNode and Untyped invocation, their error paths, the initial
//! capabilities, and a fuzzer. Each case runs on objects it retypes from its own untyped.

use crate::check::{ensure, expect_error, ok};
use crate::env::{CASE_UNTYPED_BITS, DEPTH, Env, ROOT};
use crate::{faults, ipc, memory, threads};
use alloc::string::String;
use hmk_sys::bootinfo::slot;
use hmk_sys::error::Error;
use hmk_sys::invocation::{CNode, CPtr, Untyped, error_detail, invoke};
use hmk_sys::message::{CapRights, cnode_cap_data};
use hmk_sys::object::{ObjectType, cap_type, label};
use hmk_sys::syscall::debug_cap_identify;

pub type Case = fn(&mut Env) -> Result<(), String>;

fn identify(cptr: CPtr, want: u64) -> Result<(), String> {
    let got = debug_cap_identify(cptr);
    ensure!(got == want, "slot {cptr}: capability type {got}, want {want}");
    Ok(())
}

fn empty(cptr: CPtr) -> Result<(), String> {
    identify(cptr, cap_type::NULL)
}

fn endpoint(env: &mut Env) -> Result<CPtr, String> {
    env.make(ObjectType::Endpoint, 0)
}

fn copy(env: &mut Env, src: CPtr, rights: CapRights) -> Result<CPtr, String> {
    let dest = env.slot();
    ok(ROOT.copy(dest, DEPTH, ROOT, src, DEPTH, rights), "copy")?;
    Ok(dest)
}

fn mint(env: &mut Env, src: CPtr, rights: CapRights, badge: u64) -> Result<CPtr, String> {
    let dest = env.slot();
    ok(ROOT.mint(dest, DEPTH, ROOT, src, DEPTH, rights, badge), "mint")?;
    Ok(dest)
}

/// A CNode of 2^radix slots.
fn cnode(env: &mut Env, radix: u64) -> Result<CPtr, String> {
    env.make(ObjectType::CNode, radix)
}

/// Whether the capability has all four rights: only those may cancel badged sends.
fn has_all_rights(cptr: CPtr) -> bool {
    ROOT.cancel_badged_sends(cptr, DEPTH).is_ok()
}

pub const ALL: &[(&str, Case)] = &[
    ("initial_caps_have_sel4_types", initial_caps_have_sel4_types),
    ("bootinfo_describes_the_cspace", bootinfo_describes_the_cspace),
    ("retype_untyped", |e| retype_each(e, ObjectType::Untyped, 12, cap_type::UNTYPED)),
    ("retype_tcb", |e| retype_each(e, ObjectType::Tcb, 0, cap_type::THREAD)),
    ("retype_endpoint", |e| retype_each(e, ObjectType::Endpoint, 0, cap_type::ENDPOINT)),
    ("retype_notification", |e| retype_each(e, ObjectType::Notification, 0, cap_type::NOTIFICATION)),
    ("retype_cnode", |e| retype_each(e, ObjectType::CNode, 4, cap_type::CNODE)),
    ("retype_sched_context", |e| retype_each(e, ObjectType::SchedContext, 8, cap_type::SCHED_CONTEXT)),
    ("retype_reply", |e| retype_each(e, ObjectType::Reply, 0, cap_type::REPLY)),
    ("retype_small_page", |e| retype_each(e, ObjectType::SmallPage, 0, cap_type::FRAME)),
    ("retype_large_page", |e| retype_each(e, ObjectType::LargePage, 0, cap_type::FRAME)),
    ("retype_page_table", |e| retype_each(e, ObjectType::PageTable, 0, cap_type::PAGE_TABLE)),
    ("retype_vspace", |e| retype_each(e, ObjectType::VSpace, 0, cap_type::VSPACE)),
    ("retype_many_objects_at_once", retype_many_objects_at_once),
    ("retype_count_limits", retype_count_limits),
    ("retype_invalid_type", retype_invalid_type),
    ("retype_size_checks", retype_size_checks),
    ("retype_destination_occupied", retype_destination_occupied),
    ("retype_offset_and_window_ranges", retype_offset_and_window_ranges),
    ("retype_not_enough_memory", retype_not_enough_memory),
    ("retype_huge_page_too_big", retype_huge_page_too_big),
    ("retype_into_sub_cnode", retype_into_sub_cnode),
    ("retype_destination_not_a_cnode", retype_destination_not_a_cnode),
    ("retype_truncated", retype_truncated),
    ("retype_device_untyped_only_frames", retype_device_untyped_only_frames),
    ("revoke_then_retype_reuses_memory", revoke_then_retype_reuses_memory),
    ("untyped_other_labels_illegal", untyped_other_labels_illegal),
    ("copy_endpoint", copy_endpoint),
    ("copy_masks_rights", copy_masks_rights),
    ("copy_to_occupied_slot", copy_to_occupied_slot),
    ("copy_from_empty_slot", copy_from_empty_slot),
    ("copy_depth_out_of_range", copy_depth_out_of_range),
    ("copy_source_root_not_a_cnode", copy_source_root_not_a_cnode),
    ("copy_guard_mismatch", copy_guard_mismatch),
    ("copy_depth_mismatch", copy_depth_mismatch),
    ("copy_truncated", copy_truncated),
    ("copy_untyped_with_children", copy_untyped_with_children),
    ("copy_untyped_without_children", copy_untyped_without_children),
    ("copy_irq_control_refused", copy_irq_control_refused),
    ("copy_unmapped_page_table_refused", copy_unmapped_page_table_refused),
    ("copy_unassigned_vspace_refused", copy_unassigned_vspace_refused),
    ("copy_frame", copy_frame),
    ("mint_badges_endpoint", mint_badges_endpoint),
    ("mint_badged_again_refused", mint_badged_again_refused),
    ("mint_notification", mint_notification),
    ("mint_cnode_guard_addresses", mint_cnode_guard_addresses),
    ("mint_guard_too_big", mint_guard_too_big),
    ("mint_truncated", mint_truncated),
    ("mint_without_rights", mint_without_rights),
    ("move_capability", move_capability),
    ("move_to_occupied_slot", move_to_occupied_slot),
    ("move_from_empty_slot", move_from_empty_slot),
    ("move_keeps_derivation", move_keeps_derivation),
    ("mutate_keeps_endpoint_badge", mutate_keeps_endpoint_badge),
    ("mutate_cnode_guard", mutate_cnode_guard),
    ("mutate_bad_guard", mutate_bad_guard),
    ("mutate_truncated", mutate_truncated),
    ("rotate_three_slots", rotate_three_slots),
    ("rotate_swap", rotate_swap),
    ("rotate_pivot_is_destination", rotate_pivot_is_destination),
    ("rotate_destination_occupied", rotate_destination_occupied),
    ("rotate_empty_pivot", rotate_empty_pivot),
    ("rotate_truncated", rotate_truncated),
    ("delete_capability", delete_capability),
    ("delete_empty_slot", delete_empty_slot),
    ("delete_depth_error", delete_depth_error),
    ("delete_last_cnode_cap_deletes_contents", delete_last_cnode_cap_deletes_contents),
    ("delete_copy_keeps_object", delete_copy_keeps_object),
    ("revoke_removes_children", revoke_removes_children),
    ("revoke_deep_tree", revoke_deep_tree),
    ("revoke_leaf", revoke_leaf),
    ("revoke_badged_subtree_only", revoke_badged_subtree_only),
    ("cancel_badged_sends_rights", cancel_badged_sends_rights),
    ("cancel_badged_sends_not_endpoint", cancel_badged_sends_not_endpoint),
    ("invoke_null_capability", invoke_null_capability),
    ("cnode_unknown_label", cnode_unknown_label),
    ("fuzz_cnode_and_untyped", fuzz_cnode_and_untyped),
    ("thread_runs_and_stops", threads::thread_runs_and_stops),
    ("higher_priority_runs_first", threads::higher_priority_runs_first),
    ("equal_priority_round_robin", threads::equal_priority_round_robin),
    ("suspend_and_resume", threads::suspend_and_resume),
    ("read_and_write_registers", threads::read_and_write_registers),
    ("register_access_errors", threads::register_access_errors),
    ("copy_registers_between_threads", threads::copy_registers_between_threads),
    ("priorities_bounded_by_mcp", threads::priorities_bounded_by_mcp),
    ("sched_params_checks", threads::sched_params_checks),
    ("configure_checks", threads::configure_checks),
    ("sched_control_checks", threads::sched_control_checks),
    ("unbound_threads_do_not_run", threads::unbound_threads_do_not_run),
    ("timer_preempts_a_spinning_thread", threads::timer_preempts_a_spinning_thread),
    ("budget_stops_a_spinner_starving_lower_priorities", threads::budget_stops_a_spinner_starving_lower_priorities),
    ("timeout_fault_on_budget_exhaustion", threads::timeout_fault_on_budget_exhaustion),
    ("deleting_a_tcb_stops_its_thread", threads::deleting_a_tcb_stops_its_thread),
    ("yield_to_runs_the_bound_thread", threads::yield_to_runs_the_bound_thread),
    ("deleting_a_sched_context_stops_its_thread", threads::deleting_a_sched_context_stops_its_thread),
    ("priority_change_reorders_ready_threads", threads::priority_change_reorders_ready_threads),
    ("read_registers_can_suspend", threads::read_registers_can_suspend),
    ("copy_registers_integer_and_tls", threads::copy_registers_integer_and_tls),
    ("configure_with_a_guard", threads::configure_with_a_guard),
    ("ipc_buffer_must_be_a_normal_frame", threads::ipc_buffer_must_be_a_normal_frame),
    ("sched_context_binding_errors", threads::sched_context_binding_errors),
    ("consumed_resets_when_read", threads::consumed_resets_when_read),
    ("resume_and_suspend_are_idempotent", threads::resume_and_suspend_are_idempotent),
    ("timeout_endpoint_must_be_able_to_send", threads::timeout_endpoint_must_be_able_to_send),
    ("null_sched_context_unbinds_a_thread", threads::null_sched_context_unbinds_a_thread),
    ("tls_base_is_a_register", threads::tls_base_is_a_register),
    ("yield_alone_returns", threads::yield_alone_returns),
    ("tcb_unknown_label", threads::tcb_unknown_label),
    ("call_and_reply_recv_round_trip", ipc::call_and_reply_recv_round_trip),
    ("badges_identify_clients", ipc::badges_identify_clients),
    ("blocked_sender_meets_later_receiver", ipc::blocked_sender_meets_later_receiver),
    ("non_blocking_send_and_receive", ipc::non_blocking_send_and_receive),
    ("senders_queue_in_fifo_order", ipc::senders_queue_in_fifo_order),
    ("cancel_badged_sends_requeues", ipc::cancel_badged_sends_requeues),
    ("notification_bits_are_ored", ipc::notification_bits_are_ored),
    ("signal_wakes_a_waiter", ipc::signal_wakes_a_waiter),
    ("bound_notification_wakes_recv", ipc::bound_notification_wakes_recv),
    ("deleting_an_endpoint_releases_its_waiter", ipc::deleting_an_endpoint_releases_its_waiter),
    ("deleting_a_reply_aborts_the_call", ipc::deleting_a_reply_aborts_the_call),
    ("reply_objects_serve_many_calls", ipc::reply_objects_serve_many_calls),
    ("call_without_grant_gets_no_reply", ipc::call_without_grant_gets_no_reply),
    ("passive_server_runs_on_callers_time", ipc::passive_server_runs_on_callers_time),
    ("invoking_without_send_right_is_an_error", ipc::invoking_without_send_right_is_an_error),
    ("long_messages_travel_between_ipc_buffers", ipc::long_messages_travel_between_ipc_buffers),
    ("without_a_buffer_only_registers_arrive", ipc::without_a_buffer_only_registers_arrive),
    ("waiters_wake_in_fifo_order", ipc::waiters_wake_in_fifo_order),
    ("pending_bound_signal_comes_before_messages", ipc::pending_bound_signal_comes_before_messages),
    ("suspended_receiver_restarts_its_receive", ipc::suspended_receiver_restarts_its_receive),
    ("reply_without_caller_is_harmless", ipc::reply_without_caller_is_harmless),
    ("recv_on_a_send_only_capability_faults", ipc::recv_on_a_send_only_capability_faults),
    ("nb_send_recv_sends_then_receives", ipc::nb_send_recv_sends_then_receives),
    ("nb_send_wait_signals_then_waits", ipc::nb_send_wait_signals_then_waits),
    ("reply_recv_without_a_caller_just_receives", ipc::reply_recv_without_a_caller_just_receives),
    ("receivers_are_served_in_fifo_order", ipc::receivers_are_served_in_fifo_order),
    ("unbadged_signal_wakes_with_zero", ipc::unbadged_signal_wakes_with_zero),
    ("deleting_a_notification_releases_its_waiter", ipc::deleting_a_notification_releases_its_waiter),
    ("unbinding_stops_signals_waking_recv", ipc::unbinding_stops_signals_waking_recv),
    ("queued_call_is_answered_later", ipc::queued_call_is_answered_later),
    ("nb_recv_takes_a_queued_sender", ipc::nb_recv_takes_a_queued_sender),
    ("suspended_sender_leaves_the_queue", ipc::suspended_sender_leaves_the_queue),
    ("granted_capability_arrives", ipc::granted_capability_arrives),
    ("no_grant_no_capability", ipc::no_grant_no_capability),
    ("own_endpoint_capability_is_unwrapped", ipc::own_endpoint_capability_is_unwrapped),
    ("unknown_syscall_fault_and_resume", faults::unknown_syscall_fault_and_resume),
    ("cap_fault_message", faults::cap_fault_message),
    ("vm_fault_message", faults::vm_fault_message),
    ("user_exception_message", faults::user_exception_message),
    ("fault_without_handler_stops_the_thread", faults::fault_without_handler_stops_the_thread),
    ("timeout_fault_reply_resumes", faults::timeout_fault_reply_resumes),
    ("unknown_syscall_without_handler_stops", faults::unknown_syscall_without_handler_stops),
    (
        "server_restarted_after_a_fault_replies_with_its_own_message",
        faults::server_restarted_after_a_fault_replies_with_its_own_message,
    ),
    ("write_registers_moves_the_pc", threads::write_registers_moves_the_pc),
    ("woken_lower_priority_receiver_waits_its_turn", threads::woken_lower_priority_receiver_waits_its_turn),
    ("signals_before_a_wait_are_ored", ipc::signals_before_a_wait_are_ored),
    ("fault_handler_can_change", ipc::fault_handler_can_change),
    ("sched_params_bounded_by_the_authority", threads::sched_params_bounded_by_the_authority),
    ("grant_reply_alone_allows_calls", ipc::grant_reply_alone_allows_calls),
    ("polling_without_receive_right_faults", ipc::polling_without_receive_right_faults),
    ("map_write_and_read_a_frame", memory::map_write_and_read_a_frame),
    ("two_mappings_share_a_frame", memory::two_mappings_share_a_frame),
    ("mapping_errors", memory::mapping_errors),
    ("asid_assignment", memory::asid_assignment),
    ("page_table_errors", memory::page_table_errors),
];

fn initial_caps_have_sel4_types(_: &mut Env) -> Result<(), String> {
    let expected = [
        (0, cap_type::NULL),
        (slot::INIT_THREAD_TCB, cap_type::THREAD),
        (slot::INIT_THREAD_CNODE, cap_type::CNODE),
        (slot::INIT_THREAD_VSPACE, cap_type::VSPACE),
        (slot::IRQ_CONTROL, cap_type::IRQ_CONTROL),
        (slot::ASID_CONTROL, cap_type::ASID_CONTROL),
        (slot::INIT_THREAD_ASID_POOL, cap_type::ASID_POOL),
        (slot::IO_PORT_CONTROL, cap_type::NULL),
        (slot::BOOT_INFO_FRAME, cap_type::FRAME),
        (slot::INIT_THREAD_IPC_BUFFER, cap_type::FRAME),
        (slot::DOMAIN, cap_type::DOMAIN),
        (slot::INIT_THREAD_SC, cap_type::SCHED_CONTEXT),
    ];
    for (cptr, want) in expected {
        identify(cptr, want)?;
    }
    Ok(())
}

fn bootinfo_describes_the_cspace(env: &mut Env) -> Result<(), String> {
    let info = env.bootinfo;
    ensure!(info.init_thread_cnode_size_bits == 13, "root CNode size {}", info.init_thread_cnode_size_bits);
    ensure!(!info.untyped_list().is_empty(), "no untyped");
    ensure!(info.empty.end == 1 << 13 && info.empty.start >= info.untyped.end, "empty region {:?}", info.empty);
    for cptr in info.untyped.start..info.untyped.end {
        identify(cptr, cap_type::UNTYPED)?;
    }
    for cptr in info.user_image_frames.start..info.user_image_frames.end {
        identify(cptr, cap_type::FRAME)?;
    }
    for cptr in info.user_image_paging.start..info.user_image_paging.end {
        identify(cptr, cap_type::PAGE_TABLE)?;
    }
    identify(info.sched_control.start, cap_type::SCHED_CONTROL)?;
    ensure!(info.untyped_list().iter().any(|u| u.is_device != 0), "no device untyped");
    Ok(())
}

fn retype_each(env: &mut Env, object_type: ObjectType, size_bits: u64, want: u64) -> Result<(), String> {
    let cptr = env.make(object_type, size_bits)?;
    identify(cptr, want)
}

fn retype_many_objects_at_once(env: &mut Env) -> Result<(), String> {
    let first = env.slots(64);
    ok(env.untyped.retype(ObjectType::Notification, 0, ROOT, 0, 0, first, 64), "retype 64")?;
    for cptr in first..first + 64 {
        identify(cptr, cap_type::NOTIFICATION)?;
    }
    Ok(())
}

fn retype_count_limits(env: &mut Env) -> Result<(), String> {
    let first = env.slots(300);
    expect_error(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, 0, 0, first, 0), Error::RangeError)?;
    ensure!(error_detail(0) == 1 && error_detail(1) == 256, "range {}..{}", error_detail(0), error_detail(1));
    expect_error(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, 0, 0, first, 257), Error::RangeError)?;
    ok(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, 0, 0, first, 256), "256 endpoints")?;
    identify(first + 255, cap_type::ENDPOINT)
}

fn retype_invalid_type(env: &mut Env) -> Result<(), String> {
    let dest = env.slot();
    let result = invoke(env.untyped.0, label::UNTYPED_RETYPE, &[12, 0, 0, 0, dest, 1], &[ROOT.0]);
    expect_error(result, Error::InvalidArgument)?;
    ensure!(error_detail(0) == 0, "argument {}", error_detail(0));
    empty(dest)
}

fn retype_size_checks(env: &mut Env) -> Result<(), String> {
    let dest = env.slot();
    expect_error(env.untyped.retype(ObjectType::CNode, 0, ROOT, 0, 0, dest, 1), Error::InvalidArgument)?;
    ensure!(error_detail(0) == 1, "argument {}", error_detail(0));
    expect_error(env.untyped.retype(ObjectType::Untyped, 3, ROOT, 0, 0, dest, 1), Error::InvalidArgument)?;
    expect_error(env.untyped.retype(ObjectType::SchedContext, 6, ROOT, 0, 0, dest, 1), Error::InvalidArgument)?;
    expect_error(env.untyped.retype(ObjectType::Untyped, 48, ROOT, 0, 0, dest, 1), Error::RangeError)?;
    empty(dest)
}

fn retype_destination_occupied(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    expect_error(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, 0, 0, ep, 1), Error::DeleteFirst)?;
    let next = env.slot();
    // A window that reaches an occupied slot fails as a whole.
    expect_error(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, 0, 0, ep, 2), Error::DeleteFirst)?;
    empty(next)
}

fn retype_offset_and_window_ranges(env: &mut Env) -> Result<(), String> {
    expect_error(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, 0, 0, 1 << 13, 1), Error::RangeError)?;
    ensure!(error_detail(1) == (1 << 13) - 1, "max {}", error_detail(1));
    expect_error(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, 0, 0, (1 << 13) - 2, 3), Error::RangeError)?;
    ensure!(error_detail(0) == 1 && error_detail(1) == 2, "range {}..{}", error_detail(0), error_detail(1));
    Ok(())
}

fn retype_not_enough_memory(env: &mut Env) -> Result<(), String> {
    let first = env.slots(2);
    // Two halves fill the case's untyped; a third object does not fit.
    ok(env.untyped.retype(ObjectType::Untyped, CASE_UNTYPED_BITS - 1, ROOT, 0, 0, first, 2), "two halves")?;
    let dest = env.slot();
    expect_error(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, 0, 0, dest, 1), Error::NotEnoughMemory)?;
    ensure!(error_detail(0) == 0, "memory left {}", error_detail(0));
    empty(dest)
}

fn retype_huge_page_too_big(env: &mut Env) -> Result<(), String> {
    let dest = env.slot();
    expect_error(env.untyped.retype(ObjectType::HugePage, 0, ROOT, 0, 0, dest, 1), Error::NotEnoughMemory)?;
    ensure!(error_detail(0) == 1 << CASE_UNTYPED_BITS, "memory left {}", error_detail(0));
    Ok(())
}

fn retype_into_sub_cnode(env: &mut Env) -> Result<(), String> {
    let node = cnode(env, 4)?;
    // The sub-CNode is named in the root CNode at depth 64; objects go to its slots 3..5.
    ok(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, node, DEPTH, 3, 2), "retype into sub-CNode")?;
    // Reach them through the sub-CNode: copy its slot 4 out to the root.
    let out = env.slot();
    ok(ROOT.copy(out, DEPTH, CNode(node), 4, 4, CapRights::ALL), "copy out of the sub-CNode")?;
    identify(out, cap_type::ENDPOINT)
}

fn retype_destination_not_a_cnode(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    expect_error(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, ep, DEPTH, 0, 1), Error::FailedLookup)?;
    let dest = env.slot();
    expect_error(env.untyped.retype(ObjectType::Endpoint, 0, CNode(ep), 0, 0, dest, 1), Error::FailedLookup)
}

fn retype_truncated(env: &mut Env) -> Result<(), String> {
    let dest = env.slot();
    expect_error(
        invoke(env.untyped.0, label::UNTYPED_RETYPE, &[2, 0, 0, 0, dest], &[ROOT.0]),
        Error::TruncatedMessage,
    )?;
    expect_error(invoke(env.untyped.0, label::UNTYPED_RETYPE, &[2, 0, 0, 0, dest, 1], &[]), Error::TruncatedMessage)
}

fn retype_device_untyped_only_frames(env: &mut Env) -> Result<(), String> {
    let info = env.bootinfo;
    let (index, _) = info
        .untyped_list()
        .iter()
        .enumerate()
        .find(|(_, u)| u.is_device != 0 && u.size_bits >= 16)
        .ok_or("no device untyped of 64 KiB")?;
    let device = Untyped(info.untyped.start + index as u64);
    let dest = env.slot();
    expect_error(device.retype(ObjectType::Tcb, 0, ROOT, 0, 0, dest, 1), Error::InvalidArgument)?;
    expect_error(device.retype(ObjectType::CNode, 4, ROOT, 0, 0, dest, 1), Error::InvalidArgument)?;
    ok(device.retype(ObjectType::SmallPage, 0, ROOT, 0, 0, dest, 1), "device frame")?;
    identify(dest, cap_type::FRAME)?;
    ok(ROOT.revoke(device.0, DEPTH), "revoke the device untyped")?;
    empty(dest)
}

fn revoke_then_retype_reuses_memory(env: &mut Env) -> Result<(), String> {
    let first = env.slots(2);
    ok(env.untyped.retype(ObjectType::Untyped, CASE_UNTYPED_BITS - 1, ROOT, 0, 0, first, 2), "fill")?;
    let dest = env.slot();
    expect_error(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, 0, 0, dest, 1), Error::NotEnoughMemory)?;
    ok(ROOT.revoke(env.untyped.0, DEPTH), "revoke")?;
    empty(first)?;
    empty(first + 1)?;
    ok(env.untyped.retype(ObjectType::Untyped, CASE_UNTYPED_BITS, ROOT, 0, 0, dest, 1), "the whole block again")?;
    identify(dest, cap_type::UNTYPED)
}

fn untyped_other_labels_illegal(env: &mut Env) -> Result<(), String> {
    expect_error(invoke(env.untyped.0, label::CNODE_COPY, &[0; 6], &[ROOT.0]), Error::IllegalOperation)?;
    expect_error(invoke(env.untyped.0, 0, &[], &[]), Error::IllegalOperation)
}

fn copy_endpoint(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let dest = copy(env, ep, CapRights::ALL)?;
    identify(dest, cap_type::ENDPOINT)?;
    ensure!(has_all_rights(dest), "the full copy lost rights");
    identify(ep, cap_type::ENDPOINT)
}

fn copy_masks_rights(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let read_only = copy(env, ep, CapRights::READ)?;
    ensure!(!has_all_rights(read_only), "a read-only copy kept every right");
    // Rights only shrink: a full-rights copy of the read-only copy is still read-only.
    let again = copy(env, read_only, CapRights::ALL)?;
    ensure!(!has_all_rights(again), "rights grew back");
    Ok(())
}

fn copy_to_occupied_slot(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let other = endpoint(env)?;
    expect_error(ROOT.copy(other, DEPTH, ROOT, ep, DEPTH, CapRights::ALL), Error::DeleteFirst)
}

fn copy_from_empty_slot(env: &mut Env) -> Result<(), String> {
    let (dest, src) = (env.slot(), env.slot());
    expect_error(ROOT.copy(dest, DEPTH, ROOT, src, DEPTH, CapRights::ALL), Error::FailedLookup)?;
    // Details: the source failed (1), missing capability (2), bits left.
    ensure!(error_detail(0) == 1 && error_detail(1) == 2, "details {} {}", error_detail(0), error_detail(1));
    empty(dest)
}

fn copy_depth_out_of_range(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let dest = env.slot();
    expect_error(ROOT.copy(dest, 0, ROOT, ep, DEPTH, CapRights::ALL), Error::RangeError)?;
    ensure!(error_detail(0) == 1 && error_detail(1) == 64, "range {}..{}", error_detail(0), error_detail(1));
    expect_error(ROOT.copy(dest, DEPTH, ROOT, ep, 65, CapRights::ALL), Error::RangeError)
}

fn copy_source_root_not_a_cnode(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let dest = env.slot();
    expect_error(ROOT.copy(dest, DEPTH, CNode(ep), ep, DEPTH, CapRights::ALL), Error::FailedLookup)?;
    ensure!(
        error_detail(0) == 1 && error_detail(1) == 1,
        "want source InvalidRoot, got {} {}",
        error_detail(0),
        error_detail(1)
    );
    Ok(())
}

fn copy_guard_mismatch(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    // Slot numbers past 2^13 hit the root CNode's 51-bit zero guard.
    expect_error(ROOT.copy(1 << 20, DEPTH, ROOT, ep, DEPTH, CapRights::ALL), Error::FailedLookup)?;
    ensure!(
        error_detail(0) == 0 && error_detail(1) == 4,
        "want destination GuardMismatch, got {} {}",
        error_detail(0),
        error_detail(1)
    );
    Ok(())
}

fn copy_depth_mismatch(env: &mut Env) -> Result<(), String> {
    let node = cnode(env, 8)?;
    let ep = endpoint(env)?;
    // Four bits cannot address a 2^8-slot CNode.
    expect_error(CNode(node).copy(1, 4, ROOT, ep, DEPTH, CapRights::ALL), Error::FailedLookup)?;
    ensure!(error_detail(1) == 3, "want DepthMismatch, got type {}", error_detail(1));
    ok(CNode(node).copy(1, 8, ROOT, ep, DEPTH, CapRights::ALL), "copy at the right depth")
}

fn copy_truncated(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let dest = env.slot();
    expect_error(invoke(ROOT.0, label::CNODE_COPY, &[dest, DEPTH, ep, DEPTH], &[ROOT.0]), Error::TruncatedMessage)?;
    expect_error(invoke(ROOT.0, label::CNODE_COPY, &[dest, DEPTH, ep, DEPTH, 15], &[]), Error::TruncatedMessage)?;
    expect_error(invoke(ROOT.0, label::CNODE_COPY, &[dest], &[ROOT.0]), Error::TruncatedMessage)?;
    empty(dest)
}

fn copy_untyped_with_children(env: &mut Env) -> Result<(), String> {
    endpoint(env)?;
    let dest = env.slot();
    expect_error(ROOT.copy(dest, DEPTH, ROOT, env.untyped.0, DEPTH, CapRights::ALL), Error::RevokeFirst)
}

fn copy_untyped_without_children(env: &mut Env) -> Result<(), String> {
    let child = env.make(ObjectType::Untyped, 16)?;
    let dest = copy(env, child, CapRights::ALL)?;
    identify(dest, cap_type::UNTYPED)
}

fn copy_irq_control_refused(env: &mut Env) -> Result<(), String> {
    let dest = env.slot();
    expect_error(ROOT.copy(dest, DEPTH, ROOT, slot::IRQ_CONTROL, DEPTH, CapRights::ALL), Error::IllegalOperation)
}

fn copy_unmapped_page_table_refused(env: &mut Env) -> Result<(), String> {
    let table = env.make(ObjectType::PageTable, 0)?;
    let dest = env.slot();
    expect_error(ROOT.copy(dest, DEPTH, ROOT, table, DEPTH, CapRights::ALL), Error::IllegalOperation)
}

fn copy_unassigned_vspace_refused(env: &mut Env) -> Result<(), String> {
    let vspace = env.make(ObjectType::VSpace, 0)?;
    let dest = env.slot();
    expect_error(ROOT.copy(dest, DEPTH, ROOT, vspace, DEPTH, CapRights::ALL), Error::IllegalOperation)?;
    // The root task's own VSpace has an ASID, so it can be copied.
    let own = copy(env, slot::INIT_THREAD_VSPACE, CapRights::ALL)?;
    identify(own, cap_type::VSPACE)
}

fn copy_frame(env: &mut Env) -> Result<(), String> {
    let frame = env.make(ObjectType::SmallPage, 0)?;
    let dest = copy(env, frame, CapRights::READ)?;
    identify(dest, cap_type::FRAME)?;
    // A mapped frame (the IPC buffer) copies as an unmapped one.
    let ipc = copy(env, slot::INIT_THREAD_IPC_BUFFER, CapRights::ALL)?;
    identify(ipc, cap_type::FRAME)
}

fn mint_badges_endpoint(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let badged = mint(env, ep, CapRights::ALL, 0xbadd)?;
    identify(badged, cap_type::ENDPOINT)?;
    ensure!(has_all_rights(badged), "mint with all rights lost some");
    Ok(())
}

fn mint_badged_again_refused(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let badged = mint(env, ep, CapRights::ALL, 7)?;
    let dest = env.slot();
    expect_error(ROOT.mint(dest, DEPTH, ROOT, badged, DEPTH, CapRights::ALL, 8), Error::IllegalOperation)?;
    // Minting with badge 0 keeps the existing badge? No: a badged capability cannot be re-badged.
    expect_error(ROOT.mint(dest, DEPTH, ROOT, badged, DEPTH, CapRights::ALL, 0), Error::IllegalOperation)?;
    empty(dest)
}

fn mint_notification(env: &mut Env) -> Result<(), String> {
    let ntfn = env.make(ObjectType::Notification, 0)?;
    let badged = mint(env, ntfn, CapRights::ALL, 1 << 63)?;
    identify(badged, cap_type::NOTIFICATION)
}

fn mint_cnode_guard_addresses(env: &mut Env) -> Result<(), String> {
    let node = cnode(env, 4)?;
    let guarded = env.slot();
    // Guard 0b1011 of 4 bits: the minted CNode resolves 8 bits, guard then index.
    ok(ROOT.mint(guarded, DEPTH, ROOT, node, DEPTH, CapRights::ALL, cnode_cap_data(0b1011, 4)), "mint guard")?;
    let ep = endpoint(env)?;
    ok(CNode(guarded).copy(0b1011_0010, 8, ROOT, ep, DEPTH, CapRights::ALL), "copy through the guard")?;
    expect_error(CNode(guarded).copy(0b0011_0011, 8, ROOT, ep, DEPTH, CapRights::ALL), Error::FailedLookup)?;
    ensure!(error_detail(1) == 4, "want GuardMismatch, got type {}", error_detail(1));
    // The unguarded capability sees the same slot 2.
    let out = env.slot();
    ok(ROOT.copy(out, DEPTH, CNode(node), 2, 4, CapRights::ALL), "copy out")?;
    identify(out, cap_type::ENDPOINT)
}

fn mint_guard_too_big(env: &mut Env) -> Result<(), String> {
    let node = cnode(env, 8)?;
    let dest = env.slot();
    expect_error(
        ROOT.mint(dest, DEPTH, ROOT, node, DEPTH, CapRights::ALL, cnode_cap_data(0, 57)),
        Error::IllegalOperation,
    )?;
    ok(ROOT.mint(dest, DEPTH, ROOT, node, DEPTH, CapRights::ALL, cnode_cap_data(0, 56)), "guard 56 + radix 8 fits")
}

fn mint_truncated(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let dest = env.slot();
    expect_error(invoke(ROOT.0, label::CNODE_MINT, &[dest, DEPTH, ep, DEPTH, 15], &[ROOT.0]), Error::TruncatedMessage)
}

fn mint_without_rights(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let none = mint(env, ep, CapRights::NONE, 3)?;
    identify(none, cap_type::ENDPOINT)?;
    ensure!(!has_all_rights(none), "no-rights capability cancelled sends");
    Ok(())
}

fn move_capability(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let dest = env.slot();
    ok(ROOT.move_(dest, DEPTH, ROOT, ep, DEPTH), "move")?;
    empty(ep)?;
    identify(dest, cap_type::ENDPOINT)
}

fn move_to_occupied_slot(env: &mut Env) -> Result<(), String> {
    let a = endpoint(env)?;
    let b = endpoint(env)?;
    expect_error(ROOT.move_(b, DEPTH, ROOT, a, DEPTH), Error::DeleteFirst)?;
    identify(a, cap_type::ENDPOINT)
}

fn move_from_empty_slot(env: &mut Env) -> Result<(), String> {
    let (dest, src) = (env.slot(), env.slot());
    expect_error(ROOT.move_(dest, DEPTH, ROOT, src, DEPTH), Error::FailedLookup)
}

fn move_keeps_derivation(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let child = mint(env, ep, CapRights::ALL, 9)?;
    let moved = env.slot();
    ok(ROOT.move_(moved, DEPTH, ROOT, child, DEPTH), "move the child")?;
    ok(ROOT.revoke(ep, DEPTH), "revoke the parent")?;
    empty(moved)?;
    identify(ep, cap_type::ENDPOINT)
}

fn mutate_keeps_endpoint_badge(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let badged = mint(env, ep, CapRights::ALL, 5)?;
    let dest = env.slot();
    ok(ROOT.mutate(dest, DEPTH, ROOT, badged, DEPTH, 77), "mutate")?;
    empty(badged)?;
    // Still badged: re-badging is refused.
    let again = env.slot();
    expect_error(ROOT.mint(again, DEPTH, ROOT, dest, DEPTH, CapRights::ALL, 6), Error::IllegalOperation)
}

fn mutate_cnode_guard(env: &mut Env) -> Result<(), String> {
    let node = cnode(env, 4)?;
    let dest = env.slot();
    ok(ROOT.mutate(dest, DEPTH, ROOT, node, DEPTH, cnode_cap_data(0b11, 2)), "mutate guard")?;
    empty(node)?;
    let ep = endpoint(env)?;
    ok(CNode(dest).copy(0b11_0101, 6, ROOT, ep, DEPTH, CapRights::ALL), "copy through the new guard")
}

fn mutate_bad_guard(env: &mut Env) -> Result<(), String> {
    let node = cnode(env, 4)?;
    let dest = env.slot();
    expect_error(ROOT.mutate(dest, DEPTH, ROOT, node, DEPTH, cnode_cap_data(0, 61)), Error::IllegalOperation)?;
    identify(node, cap_type::CNODE)
}

fn mutate_truncated(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let dest = env.slot();
    expect_error(invoke(ROOT.0, label::CNODE_MUTATE, &[dest, DEPTH, ep, DEPTH], &[ROOT.0]), Error::TruncatedMessage)
}

fn rotate_three_slots(env: &mut Env) -> Result<(), String> {
    let src = endpoint(env)?;
    let pivot = env.make(ObjectType::Notification, 0)?;
    let dest = env.slot();
    ok(ROOT.rotate(dest, DEPTH, ROOT, pivot, DEPTH, 0, ROOT, src, DEPTH, 0), "rotate")?;
    identify(dest, cap_type::NOTIFICATION)?;
    identify(pivot, cap_type::ENDPOINT)?;
    empty(src)
}

fn rotate_swap(env: &mut Env) -> Result<(), String> {
    let a = endpoint(env)?;
    let b = env.make(ObjectType::Notification, 0)?;
    ok(ROOT.rotate(a, DEPTH, ROOT, b, DEPTH, 0, ROOT, a, DEPTH, 0), "swap")?;
    identify(a, cap_type::NOTIFICATION)?;
    identify(b, cap_type::ENDPOINT)
}

fn rotate_pivot_is_destination(env: &mut Env) -> Result<(), String> {
    let a = endpoint(env)?;
    let b = endpoint(env)?;
    expect_error(ROOT.rotate(b, DEPTH, ROOT, b, DEPTH, 0, ROOT, a, DEPTH, 0), Error::IllegalOperation)?;
    expect_error(ROOT.rotate(b, DEPTH, ROOT, a, DEPTH, 0, ROOT, a, DEPTH, 0), Error::IllegalOperation)
}

fn rotate_destination_occupied(env: &mut Env) -> Result<(), String> {
    let (a, b, c) = (endpoint(env)?, endpoint(env)?, endpoint(env)?);
    expect_error(ROOT.rotate(c, DEPTH, ROOT, b, DEPTH, 0, ROOT, a, DEPTH, 0), Error::DeleteFirst)
}

fn rotate_empty_pivot(env: &mut Env) -> Result<(), String> {
    let a = endpoint(env)?;
    let (pivot, dest) = (env.slot(), env.slot());
    expect_error(ROOT.rotate(dest, DEPTH, ROOT, pivot, DEPTH, 0, ROOT, a, DEPTH, 0), Error::FailedLookup)?;
    ensure!(error_detail(0) == 0, "the pivot is not the source side");
    identify(a, cap_type::ENDPOINT)
}

fn rotate_truncated(env: &mut Env) -> Result<(), String> {
    let a = endpoint(env)?;
    let dest = env.slot();
    expect_error(
        invoke(ROOT.0, label::CNODE_ROTATE, &[dest, DEPTH, 0, a, DEPTH, 0, a], &[ROOT.0, ROOT.0]),
        Error::TruncatedMessage,
    )?;
    expect_error(
        invoke(ROOT.0, label::CNODE_ROTATE, &[dest, DEPTH, 0, a, DEPTH, 0, a, DEPTH], &[ROOT.0]),
        Error::TruncatedMessage,
    )
}

fn delete_capability(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    ok(ROOT.delete(ep, DEPTH), "delete")?;
    empty(ep)
}

fn delete_empty_slot(env: &mut Env) -> Result<(), String> {
    let free = env.slot();
    ok(ROOT.delete(free, DEPTH), "delete of an empty slot")
}

fn delete_depth_error(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    expect_error(ROOT.delete(ep, 0), Error::RangeError)?;
    expect_error(ROOT.delete(ep, 70), Error::RangeError)?;
    identify(ep, cap_type::ENDPOINT)
}

fn delete_last_cnode_cap_deletes_contents(env: &mut Env) -> Result<(), String> {
    let node = cnode(env, 4)?;
    let child = env.make(ObjectType::Untyped, 12)?;
    // An endpoint made from `child` lives only inside the CNode.
    ok(Untyped(child).retype(ObjectType::Endpoint, 0, ROOT, node, DEPTH, 5, 1), "endpoint into the CNode")?;
    let probe = env.slot();
    expect_error(ROOT.copy(probe, DEPTH, ROOT, child, DEPTH, CapRights::ALL), Error::RevokeFirst)?;
    // Deleting the only capability to the CNode deletes the endpoint inside it, so the
    // untyped has no children left and can be copied.
    ok(ROOT.delete(node, DEPTH), "delete the CNode")?;
    ok(ROOT.copy(probe, DEPTH, ROOT, child, DEPTH, CapRights::ALL), "copy the childless untyped")
}

fn delete_copy_keeps_object(env: &mut Env) -> Result<(), String> {
    let node = cnode(env, 4)?;
    let copy_slot = copy(env, node, CapRights::ALL)?;
    let child = env.make(ObjectType::Untyped, 12)?;
    ok(Untyped(child).retype(ObjectType::Endpoint, 0, ROOT, node, DEPTH, 1, 1), "endpoint into the CNode")?;
    ok(ROOT.delete(copy_slot, DEPTH), "delete a copy")?;
    // The CNode survives: its content is still there.
    let out = env.slot();
    ok(ROOT.copy(out, DEPTH, CNode(node), 1, 4, CapRights::ALL), "copy out")?;
    identify(out, cap_type::ENDPOINT)
}

fn revoke_removes_children(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let a = mint(env, ep, CapRights::ALL, 1)?;
    let b = mint(env, ep, CapRights::ALL, 2)?;
    let c = copy(env, ep, CapRights::READ)?;
    ok(ROOT.revoke(ep, DEPTH), "revoke")?;
    empty(a)?;
    empty(b)?;
    empty(c)?;
    identify(ep, cap_type::ENDPOINT)
}

fn revoke_deep_tree(env: &mut Env) -> Result<(), String> {
    // A chain of untyped, each made from the previous one, 12 levels deep, with an endpoint
    // and badged copies hanging off the deepest.
    let mut parent = env.untyped.0;
    let mut chain = alloc::vec::Vec::new();
    for level in 0..12u64 {
        let dest = env.slot();
        ok(Untyped(parent).retype(ObjectType::Untyped, 19 - level, ROOT, 0, 0, dest, 1), "chain")?;
        chain.push(dest);
        parent = dest;
    }
    let ep = env.slot();
    ok(Untyped(parent).retype(ObjectType::Endpoint, 0, ROOT, 0, 0, ep, 1), "leaf endpoint")?;
    let mut copies = alloc::vec![ep];
    for badge in 1..20u64 {
        copies.push(mint(env, ep, CapRights::ALL, badge)?);
    }
    ok(ROOT.revoke(env.untyped.0, DEPTH), "revoke the root of the tree")?;
    for cptr in chain.iter().chain(copies.iter()) {
        empty(*cptr)?;
    }
    Ok(())
}

fn revoke_leaf(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    ok(ROOT.revoke(ep, DEPTH), "revoke a capability without children")?;
    identify(ep, cap_type::ENDPOINT)
}

fn revoke_badged_subtree_only(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    let badged = mint(env, ep, CapRights::ALL, 4)?;
    let badged_copy = copy(env, badged, CapRights::ALL)?;
    let other = mint(env, ep, CapRights::ALL, 5)?;
    ok(ROOT.revoke(badged, DEPTH), "revoke the badged subtree")?;
    empty(badged_copy)?;
    identify(badged, cap_type::ENDPOINT)?;
    identify(other, cap_type::ENDPOINT)
}

fn cancel_badged_sends_rights(env: &mut Env) -> Result<(), String> {
    let ep = endpoint(env)?;
    ok(ROOT.cancel_badged_sends(ep, DEPTH), "cancel with all rights")?;
    let weak = copy(env, ep, CapRights::READ_WRITE)?;
    expect_error(ROOT.cancel_badged_sends(weak, DEPTH), Error::IllegalOperation)
}

fn cancel_badged_sends_not_endpoint(env: &mut Env) -> Result<(), String> {
    let ntfn = env.make(ObjectType::Notification, 0)?;
    expect_error(ROOT.cancel_badged_sends(ntfn, DEPTH), Error::IllegalOperation)?;
    let free = env.slot();
    expect_error(ROOT.cancel_badged_sends(free, DEPTH), Error::IllegalOperation)
}

fn invoke_null_capability(env: &mut Env) -> Result<(), String> {
    let free = env.slot();
    expect_error(invoke(free, label::CNODE_COPY, &[0; 5], &[]), Error::InvalidCapability)?;
    ensure!(error_detail(0) == 0, "the invoked capability is argument 0");
    Ok(())
}

fn cnode_unknown_label(_: &mut Env) -> Result<(), String> {
    expect_error(invoke(ROOT.0, 17, &[0, 64], &[]), Error::IllegalOperation)?;
    expect_error(invoke(ROOT.0, 26, &[0, 64], &[]), Error::IllegalOperation)?;
    expect_error(invoke(ROOT.0, label::UNTYPED_RETYPE, &[0; 6], &[ROOT.0]), Error::IllegalOperation)
}

/// A small deterministic generator.
/// A xorshift generator: the fuzzers' deterministic source of words.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Random words, biased towards the values that reach deep into the kernel's checks.
    pub fn word(&mut self) -> u64 {
        match self.below(6) {
            0 => self.next(),
            1 => self.below(16),
            2 => self.below(256),
            3 => 64,
            4 => 1u64 << self.below(64),
            _ => self.below(70),
        }
    }
}

/// Feeds 10,000 random invocations to a sandbox CNode and a sandbox untyped. Everything a
/// lookup can reach from the invoked capabilities lives in the sandbox, so the test task keeps
/// its own capabilities; the kernel must answer every call and stay consistent.
fn fuzz_cnode_and_untyped(env: &mut Env) -> Result<(), String> {
    let sandbox = cnode(env, 6)?;
    let arena = env.make(ObjectType::Untyped, 18)?;
    // Seed the sandbox with a copy of the arena, a copy of its own capability and some objects.
    ok(CNode(sandbox).copy(10, 6, ROOT, arena, DEPTH, CapRights::ALL), "untyped copy")?;
    ok(CNode(sandbox).copy(9, 6, ROOT, sandbox, DEPTH, CapRights::ALL), "self copy")?;
    // The arena is full now (seL4's rule for a copied untyped): seed from the case's untyped.
    ok(env.untyped.retype(ObjectType::Endpoint, 0, ROOT, sandbox, DEPTH, 0, 8), "seed endpoints")?;
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let targets = [sandbox, arena];
    let mut answered = 0u64;
    for _ in 0..10_000 {
        let target = targets[rng.below(2) as usize];
        let label = match rng.below(4) {
            0 => rng.below(64),
            1 => label::UNTYPED_RETYPE,
            _ => label::CNODE_REVOKE + rng.below(8),
        };
        let mut args = [0u64; 8];
        args.iter_mut().for_each(|a| *a = rng.word());
        let length = rng.below(9) as usize;
        let caps = [sandbox, arena, sandbox];
        let cap_count = rng.below(4) as usize;
        let _ = invoke(target, label, &args[..length], &caps[..cap_count]);
        answered += 1;
    }
    ensure!(answered == 10_000, "only {answered} calls returned");
    // Consistent afterwards: the sandbox still works, revoke clears the arena, and it retypes.
    identify(sandbox, cap_type::CNODE)?;
    identify(arena, cap_type::UNTYPED)?;
    ok(ROOT.revoke(arena, DEPTH), "revoke the arena")?;
    let dest = env.slot();
    ok(Untyped(arena).retype(ObjectType::Untyped, 18, ROOT, 0, 0, dest, 1), "retype the whole arena")?;
    identify(dest, cap_type::UNTYPED)
}
