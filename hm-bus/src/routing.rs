//! Membership and routing: the table of a bus's memberships (member id → role and class set)
//! and the rule (docs/bus-protocol.md "Scopes and routing") that picks which memberships a
//! message reaches, by its scope and class and by where it came from.

use crate::class::ClassSet;
use crate::message::{Header, Scope};

/// The highest member id; ids are 1..=63.
pub const MAX_MEMBER: u16 = 63;

/// What a membership is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// A module on this bus; its class set is what it subscribes to.
    Member = 0,
    /// The bridge to the parent bus; its class set is the filter of what goes up.
    UpLink = 1,
    /// A bridge to a child bus; its class set is the filter of what goes down to it.
    DownLink = 2,
}

impl Role {
    /// The role numbered `value` (as in ADD_MEMBER's MR1), if any.
    pub fn from_number(value: u64) -> Option<Role> {
        [Role::Member, Role::UpLink, Role::DownLink].get(usize::try_from(value).ok()?).copied()
    }

    /// Whether this is a link (either way).
    pub fn is_link(self) -> bool {
        self != Role::Member
    }
}

/// A set of member ids 0..=63, bit `i` for id `i`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MemberSet(pub u64);

impl MemberSet {
    pub const EMPTY: MemberSet = MemberSet(0);

    /// Adds `id` (below 64).
    pub fn insert(&mut self, id: u16) {
        self.0 |= 1 << id;
    }

    /// Whether `id` is in the set.
    pub fn contains(self, id: u16) -> bool {
        id < 64 && self.0 & (1 << id) != 0
    }

    /// How many ids the set has.
    pub fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// Whether the set has no id.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The ids, in increasing order.
    pub fn iter(self) -> impl Iterator<Item = u16> {
        (0..64u16).filter(move |&id| self.contains(id))
    }
}

/// Why a membership change was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RouteError {
    /// The id is not in 1..=63.
    BadId,
    /// The id is already a membership.
    Duplicate,
    /// The id is not a membership.
    Missing,
    /// The bus already has an up link.
    SecondUpLink,
    /// The membership is a link, whose class set only the owner sets.
    NotAMember,
    /// The member's rights do not cover the classes (a subscription beyond what it may
    /// subscribe to).
    NotPermitted,
}

/// What a member may do on the bus, set by the owner when it adds the member (from the system
/// description): the classes it may subscribe to, and those it may publish. A link's rights are
/// its filter.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Rights {
    pub subscribe: ClassSet,
    pub publish: ClassSet,
}

impl Rights {
    /// Any class, either way.
    pub const ALL: Rights = Rights { subscribe: ClassSet::ALL, publish: ClassSet::ALL };
}

#[derive(Clone, Copy)]
struct Entry {
    role: Role,
    classes: ClassSet,
    rights: Rights,
}

/// The memberships of one bus.
pub struct Routes {
    /// Indexed by member id; index 0 is never used.
    entries: [Option<Entry>; 64],
    up_link: Option<u16>,
}

impl Default for Routes {
    fn default() -> Routes {
        Routes::new()
    }
}

impl Routes {
    /// No membership.
    pub const fn new() -> Routes {
        Routes { entries: [None; 64], up_link: None }
    }

    fn index(id: u16) -> Result<usize, RouteError> {
        if (1..=MAX_MEMBER).contains(&id) { Ok(usize::from(id)) } else { Err(RouteError::BadId) }
    }

    /// Adds membership `id` with `role`, and `classes` as its subscriptions (a member) or its
    /// filter (a link); a member may subscribe to and publish any class.
    pub fn add(&mut self, id: u16, role: Role, classes: ClassSet) -> Result<(), RouteError> {
        self.add_with_rights(id, role, classes, Rights::ALL)
    }

    /// [`Routes::add`] with the member's `rights` (ignored for a link). A member's initial
    /// subscriptions are cut to what its rights allow.
    pub fn add_with_rights(
        &mut self,
        id: u16,
        role: Role,
        classes: ClassSet,
        rights: Rights,
    ) -> Result<(), RouteError> {
        let index = Routes::index(id)?;
        if self.entries[index].is_some() {
            return Err(RouteError::Duplicate);
        }
        if role == Role::UpLink {
            if self.up_link.is_some() {
                return Err(RouteError::SecondUpLink);
            }
            self.up_link = Some(id);
        }
        let (classes, rights) = match role {
            Role::Member => (intersection(classes, rights.subscribe), rights),
            _ => (classes, Rights { subscribe: ClassSet::EMPTY, publish: classes }),
        };
        self.entries[index] = Some(Entry { role, classes, rights });
        Ok(())
    }

    /// Removes membership `id`, returning its role.
    pub fn remove(&mut self, id: u16) -> Result<Role, RouteError> {
        let entry = self.entries[Routes::index(id)?].take().ok_or(RouteError::Missing)?;
        if entry.role == Role::UpLink {
            self.up_link = None;
        }
        Ok(entry.role)
    }

    /// Replaces the subscriptions of member `id`, if its rights cover them.
    pub fn subscribe(&mut self, id: u16, classes: ClassSet) -> Result<(), RouteError> {
        let entry = self.entries[Routes::index(id)?].as_mut().ok_or(RouteError::Missing)?;
        if entry.role != Role::Member {
            return Err(RouteError::NotAMember);
        }
        if !classes.is_subset_of(entry.rights.subscribe) {
            return Err(RouteError::NotPermitted);
        }
        entry.classes = classes;
        Ok(())
    }

    /// Whether membership `id` may hand the bus a message of `class`: a member if its rights
    /// say so, a link always (what it forwards passed the filter of the link it came from).
    pub fn may_publish(&self, id: u16, class: u8) -> bool {
        match self.entries.get(usize::from(id)).copied().flatten() {
            Some(entry) if entry.role == Role::Member => entry.rights.publish.contains(class),
            Some(_) => true,
            None => false,
        }
    }

    /// The rights of membership `id`, if it is one.
    pub fn rights(&self, id: u16) -> Option<Rights> {
        Some(self.entries.get(usize::from(id))?.as_ref()?.rights)
    }

    /// The role of membership `id`, if it is one.
    pub fn role(&self, id: u16) -> Option<Role> {
        Some(self.entries.get(usize::from(id))?.as_ref()?.role)
    }

    /// The subscriptions (member) or filter (link) of membership `id`, if it is one.
    pub fn classes(&self, id: u16) -> Option<ClassSet> {
        Some(self.entries.get(usize::from(id))?.as_ref()?.classes)
    }

    /// The up link, if the bus has one.
    pub fn up_link(&self) -> Option<u16> {
        self.up_link
    }

    /// Every membership.
    pub fn memberships(&self) -> MemberSet {
        let mut set = MemberSet::EMPTY;
        (1..=MAX_MEMBER).filter(|&id| self.entries[usize::from(id)].is_some()).for_each(|id| set.insert(id));
        set
    }

    /// The memberships a message with `header` reaches when membership `source` hands it to
    /// the bus: the members subscribed to its class but the source; the up link if the scope
    /// is up or global, it did not come from the up link and the up link's filter has its
    /// class; the down links but the source if the scope is down or global, each whose filter
    /// has its class.
    pub fn targets(&self, source: u16, header: &Header) -> MemberSet {
        let up = matches!(header.scope, Scope::Up | Scope::Global);
        let down = matches!(header.scope, Scope::Down | Scope::Global);
        let mut targets = MemberSet::EMPTY;
        for id in (1..=MAX_MEMBER).filter(|&id| id != source) {
            let Some(entry) = self.entries[usize::from(id)] else { continue };
            let wanted = match entry.role {
                Role::Member => true,
                Role::UpLink => up,
                Role::DownLink => down,
            };
            if wanted && entry.classes.contains(header.class) {
                targets.insert(id);
            }
        }
        targets
    }
}

fn intersection(a: ClassSet, b: ClassSet) -> ClassSet {
    let (a, b) = (a.to_words(), b.to_words());
    ClassSet::from_words([a[0] & b[0], a[1] & b[1], a[2] & b[2], a[3] & b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use proptest::prelude::*;
    use std::collections::{HashMap, VecDeque};

    const UP: u16 = 1;
    const DOWN_1: u16 = 2;
    const DOWN_2: u16 = 3;
    const M1: u16 = 4;
    const M2: u16 = 5;
    const M3: u16 = 6;
    const CLASS: u8 = 5;

    fn set(ids: &[u16]) -> MemberSet {
        let mut set = MemberSet::EMPTY;
        ids.iter().for_each(|&id| set.insert(id));
        set
    }

    fn classes(list: &[u8]) -> ClassSet {
        let mut set = ClassSet::EMPTY;
        list.iter().for_each(|&c| set.insert(c));
        set
    }

    fn header(scope: Scope) -> Header {
        Message::new(CLASS, scope, &[]).unwrap().header
    }

    /// An up link, two down links, two members subscribed to CLASS and one that is not.
    fn bus() -> Routes {
        let mut routes = Routes::new();
        routes.add(UP, Role::UpLink, ClassSet::ALL).unwrap();
        routes.add(DOWN_1, Role::DownLink, ClassSet::ALL).unwrap();
        routes.add(DOWN_2, Role::DownLink, ClassSet::ALL).unwrap();
        routes.add(M1, Role::Member, classes(&[CLASS])).unwrap();
        routes.add(M2, Role::Member, classes(&[CLASS, 6])).unwrap();
        routes.add(M3, Role::Member, classes(&[6])).unwrap();
        routes
    }

    #[test]
    fn local_reaches_subscribed_members_only() {
        let routes = bus();
        assert_eq!(routes.targets(M1, &header(Scope::Local)), set(&[M2]));
        assert_eq!(routes.targets(M3, &header(Scope::Local)), set(&[M1, M2]));
        assert_eq!(routes.targets(UP, &header(Scope::Local)), set(&[M1, M2]));
        assert_eq!(routes.targets(DOWN_1, &header(Scope::Local)), set(&[M1, M2]));
    }

    #[test]
    fn up_reaches_the_up_link_unless_it_came_from_it() {
        let routes = bus();
        assert_eq!(routes.targets(M1, &header(Scope::Up)), set(&[M2, UP]));
        assert_eq!(routes.targets(DOWN_1, &header(Scope::Up)), set(&[M1, M2, UP]));
        assert_eq!(routes.targets(UP, &header(Scope::Up)), set(&[M1, M2]));
    }

    #[test]
    fn down_reaches_the_down_links_but_the_source() {
        let routes = bus();
        assert_eq!(routes.targets(M1, &header(Scope::Down)), set(&[M2, DOWN_1, DOWN_2]));
        assert_eq!(routes.targets(UP, &header(Scope::Down)), set(&[M1, M2, DOWN_1, DOWN_2]));
        assert_eq!(routes.targets(DOWN_1, &header(Scope::Down)), set(&[M1, M2, DOWN_2]));
    }

    #[test]
    fn global_reaches_both_ways_but_the_source() {
        let routes = bus();
        assert_eq!(routes.targets(M1, &header(Scope::Global)), set(&[M2, UP, DOWN_1, DOWN_2]));
        assert_eq!(routes.targets(UP, &header(Scope::Global)), set(&[M1, M2, DOWN_1, DOWN_2]));
        assert_eq!(routes.targets(DOWN_2, &header(Scope::Global)), set(&[M1, M2, UP, DOWN_1]));
    }

    #[test]
    fn links_pass_only_what_their_filter_has() {
        let mut routes = Routes::new();
        routes.add(UP, Role::UpLink, classes(&[6])).unwrap();
        routes.add(DOWN_1, Role::DownLink, classes(&[CLASS])).unwrap();
        routes.add(DOWN_2, Role::DownLink, ClassSet::EMPTY).unwrap();
        routes.add(M1, Role::Member, ClassSet::EMPTY).unwrap();
        assert_eq!(routes.targets(M1, &header(Scope::Global)), set(&[DOWN_1]));
        assert_eq!(routes.targets(M1, &header(Scope::Up)), MemberSet::EMPTY);
        let mut other = header(Scope::Global);
        other.class = 6;
        assert_eq!(routes.targets(M1, &other), set(&[UP]));
    }

    #[test]
    fn membership_changes_and_their_errors() {
        let mut routes = bus();
        assert_eq!(routes.add(0, Role::Member, ClassSet::EMPTY), Err(RouteError::BadId));
        assert_eq!(routes.add(64, Role::Member, ClassSet::EMPTY), Err(RouteError::BadId));
        assert_eq!(routes.add(M1, Role::Member, ClassSet::EMPTY), Err(RouteError::Duplicate));
        assert_eq!(routes.add(63, Role::UpLink, ClassSet::ALL), Err(RouteError::SecondUpLink));
        assert_eq!(routes.role(63), None);
        assert_eq!(routes.remove(7), Err(RouteError::Missing));
        assert_eq!(routes.remove(0), Err(RouteError::BadId));
        assert_eq!(routes.remove(UP), Ok(Role::UpLink));
        assert_eq!(routes.up_link(), None);
        assert_eq!(routes.add(63, Role::UpLink, ClassSet::ALL), Ok(()));
        assert_eq!(routes.up_link(), Some(63));
        assert_eq!(routes.memberships(), set(&[DOWN_1, DOWN_2, M1, M2, M3, 63]));
        assert_eq!(routes.remove(M2), Ok(Role::Member));
        assert_eq!(routes.targets(M1, &header(Scope::Local)), MemberSet::EMPTY);
    }

    #[test]
    fn only_members_subscribe() {
        let mut routes = bus();
        assert_eq!(routes.subscribe(M3, classes(&[CLASS])), Ok(()));
        assert_eq!(routes.targets(M1, &header(Scope::Local)), set(&[M2, M3]));
        assert_eq!(routes.classes(M3), Some(classes(&[CLASS])));
        assert_eq!(routes.subscribe(UP, ClassSet::EMPTY), Err(RouteError::NotAMember));
        assert_eq!(routes.subscribe(DOWN_1, ClassSet::EMPTY), Err(RouteError::NotAMember));
        assert_eq!(routes.subscribe(9, ClassSet::EMPTY), Err(RouteError::Missing));
        assert_eq!(routes.subscribe(64, ClassSet::EMPTY), Err(RouteError::BadId));
        assert_eq!(routes.role(64), None);
    }

    #[test]
    fn member_sets() {
        let members = set(&[0, 3, 63]);
        assert_eq!(members.iter().collect::<Vec<_>>(), [0, 3, 63]);
        assert_eq!(members.len(), 3);
        assert!(!members.contains(64) && MemberSet::EMPTY.is_empty());
        assert_eq!(Role::from_number(2), Some(Role::DownLink));
        assert_eq!(Role::from_number(3), None);
    }

    // A tree of buses, for the property tests. Classes 0..4 only, so that subscriptions and
    // filters often meet.

    /// The shape of a tree: `parent[i] < i` for every bus but the root (0); each bus's members'
    /// subscriptions and each bridge's two filters as masks of classes 0..4 (the up filter on
    /// the child, the down filter on the parent); an offset that scatters each bus's ids.
    #[derive(Debug, Clone)]
    struct Shape {
        parent: Vec<usize>,
        members: Vec<Vec<u8>>,
        up_filters: Vec<u8>,
        down_filters: Vec<u8>,
        id_offsets: Vec<u16>,
    }

    struct Tree {
        parent: Vec<Option<usize>>,
        routes: Vec<Routes>,
        /// The members of each bus: id and subscriptions.
        members: Vec<Vec<(u16, ClassSet)>>,
        /// Each link membership (bus, id) to the other end of its bridge.
        bridges: HashMap<(usize, u16), (usize, u16)>,
    }

    fn mask(bits: u8) -> ClassSet {
        classes(&(0..4).filter(|c| bits & (1 << c) != 0).collect::<Vec<_>>())
    }

    impl Tree {
        fn build(shape: &Shape, all_pass: bool) -> Tree {
            let buses = shape.members.len();
            let mut next = vec![0u16; buses];
            // Distinct ids 1..=63 per bus: 5 is prime to 63.
            let mut new_id = |bus: usize| {
                next[bus] += 1;
                (next[bus] * 5 + shape.id_offsets[bus]) % 63 + 1
            };
            let filter = |bits: u8| if all_pass { ClassSet::ALL } else { mask(bits) };
            let mut tree = Tree {
                parent: (0..buses).map(|bus| (bus > 0).then(|| shape.parent[bus] % bus)).collect(),
                routes: (0..buses).map(|_| Routes::new()).collect(),
                members: vec![Vec::new(); buses],
                bridges: HashMap::new(),
            };
            for child in 1..buses {
                let parent = shape.parent[child] % child;
                let (up, down) = (new_id(child), new_id(parent));
                tree.routes[child].add(up, Role::UpLink, filter(shape.up_filters[child])).unwrap();
                tree.routes[parent].add(down, Role::DownLink, filter(shape.down_filters[child])).unwrap();
                tree.bridges.insert((child, up), (parent, down));
                tree.bridges.insert((parent, down), (child, up));
            }
            for (bus, subscriptions) in shape.members.iter().enumerate() {
                for &bits in subscriptions {
                    let id = new_id(bus);
                    tree.routes[bus].add(id, Role::Member, mask(bits)).unwrap();
                    tree.members[bus].push((id, mask(bits)));
                }
            }
            tree
        }

        /// Publishes from (bus, member) and forwards over every bridge the message reaches:
        /// the members it was delivered to, and the link memberships it left a bus through.
        /// Fails if some bus handles the message twice (forwarding would not terminate).
        fn publish(&self, bus: usize, member: u16, class: u8, scope: Scope) -> Result<Deliveries, String> {
            let mut header = Message::new(class, scope, &[]).unwrap().header;
            let mut handled = vec![false; self.routes.len()];
            let mut queue = VecDeque::from([(bus, member)]);
            let mut result = Deliveries::default();
            while let Some((bus, source)) = queue.pop_front() {
                if std::mem::replace(&mut handled[bus], true) {
                    return Err(format!("bus {bus} handled the message twice"));
                }
                header.source = source;
                for target in self.routes[bus].targets(source, &header).iter() {
                    match self.bridges.get(&(bus, target)) {
                        Some(&other_end) => {
                            result.crossed.push((bus, target));
                            queue.push_back(other_end);
                        }
                        None => result.delivered.push((bus, target)),
                    }
                }
            }
            Ok(result)
        }

        fn ancestors_and_self(&self, mut bus: usize) -> Vec<usize> {
            let mut chain = vec![bus];
            while let Some(parent) = self.parent[bus] {
                chain.push(parent);
                bus = parent;
            }
            chain
        }

        /// The buses `scope` reaches from `from` when every filter passes everything.
        fn reach(&self, from: usize, scope: Scope) -> Vec<usize> {
            let buses = 0..self.routes.len();
            match scope {
                Scope::Local => vec![from],
                Scope::Up => self.ancestors_and_self(from),
                Scope::Down => buses.filter(|&bus| self.ancestors_and_self(bus).contains(&from)).collect(),
                Scope::Global => buses.collect(),
            }
        }

        /// The buses `scope` reaches from `from` for `class` under the filters: a walk over the
        /// tree's edges, up through a child's up link filter, down through the parent's filter
        /// of that child's link.
        fn reach_filtered(&self, from: usize, scope: Scope, class: u8, shape: &Shape) -> Vec<usize> {
            let up = matches!(scope, Scope::Up | Scope::Global);
            let down = matches!(scope, Scope::Down | Scope::Global);
            let mut reached = vec![from];
            let mut at = 0;
            while at < reached.len() {
                let bus = reached[at];
                at += 1;
                let mut next = Vec::new();
                if let Some(parent) = self.parent[bus].filter(|_| up && mask(shape.up_filters[bus]).contains(class)) {
                    next.push(parent);
                }
                if down {
                    let children = (1..self.routes.len()).filter(|&c| self.parent[c] == Some(bus));
                    next.extend(children.filter(|&c| mask(shape.down_filters[c]).contains(class)));
                }
                reached.extend(next.into_iter().filter(|b| !reached.contains(b)).collect::<Vec<_>>());
            }
            reached
        }

        /// Checks that every member subscribed to `class` on a `reached` bus, but the publisher,
        /// got the message exactly once, and no other member got it.
        fn check(&self, got: &Deliveries, publisher: (usize, u16), class: u8, reached: &[usize]) -> Result<(), String> {
            let mut expected = 0;
            for (bus, members) in self.members.iter().enumerate() {
                for &(id, subscriptions) in members {
                    let wanted = (bus, id) != publisher && subscriptions.contains(class) && reached.contains(&bus);
                    let count = got.delivered.iter().filter(|&&d| d == (bus, id)).count();
                    if count != usize::from(wanted) {
                        return Err(format!("member {id} of bus {bus} got it {count} times, wanted {wanted}"));
                    }
                    expected += count;
                }
            }
            if got.delivered.len() != expected {
                return Err(format!("{} deliveries to non-members", got.delivered.len() - expected));
            }
            Ok(())
        }
    }

    #[derive(Default)]
    struct Deliveries {
        delivered: Vec<(usize, u16)>,
        crossed: Vec<(usize, u16)>,
    }

    fn shape() -> impl Strategy<Value = Shape> {
        (2usize..=6).prop_flat_map(|buses| {
            let masks = || proptest::collection::vec(any::<u8>(), buses);
            (
                proptest::collection::vec(any::<usize>(), buses),
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..=4), buses),
                masks(),
                masks(),
                proptest::collection::vec(0u16..63, buses),
            )
                .prop_map(|(parent, members, up_filters, down_filters, id_offsets)| Shape {
                    parent,
                    members,
                    up_filters,
                    down_filters,
                    id_offsets,
                })
        })
    }

    /// Random publications: (bus, member index, class, scope), the first two taken modulo.
    fn publications() -> impl Strategy<Value = Vec<(usize, usize, u8, u64)>> {
        proptest::collection::vec((any::<usize>(), any::<usize>(), 0u8..4, 0u64..4), 1..16)
    }

    proptest! {
        #[test]
        fn scopes_reach_each_subscriber_of_their_buses_exactly_once(shape in shape(), publications in publications()) {
            let tree = Tree::build(&shape, true);
            for (bus, member, class, scope) in publications {
                let bus = bus % tree.members.len();
                let (id, _) = tree.members[bus][member % tree.members[bus].len()];
                let scope = Scope::from_number(scope).unwrap();
                let got = tree.publish(bus, id, class, scope).map_err(TestCaseError::fail)?;
                tree.check(&got, (bus, id), class, &tree.reach(bus, scope)).map_err(TestCaseError::fail)?;
            }
        }

        #[test]
        fn messages_cross_only_links_whose_filter_has_their_class(shape in shape(), publications in publications()) {
            let tree = Tree::build(&shape, false);
            for (bus, member, class, scope) in publications {
                let bus = bus % tree.members.len();
                let (id, _) = tree.members[bus][member % tree.members[bus].len()];
                let scope = Scope::from_number(scope).unwrap();
                let got = tree.publish(bus, id, class, scope).map_err(TestCaseError::fail)?;
                for &(link_bus, link) in &got.crossed {
                    prop_assert!(tree.routes[link_bus].classes(link).unwrap().contains(class));
                }
                let reached = tree.reach_filtered(bus, scope, class, &shape);
                tree.check(&got, (bus, id), class, &reached).map_err(TestCaseError::fail)?;
            }
        }
    }
}
