package org.dmashare.it.reliability;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import org.dmashare.GranuleMismatchException;
import org.dmashare.Hex;
import org.dmashare.InvalidArgumentException;
import org.dmashare.MappingConflictException;
import org.dmashare.UnsafeScatterListException;
import org.dmashare.iommu.DeviceFaultException;
import org.dmashare.iommu.IommuDomain;
import org.dmashare.iommu.Prot;
import org.dmashare.iommu.Translation;
import org.dmashare.iommu.support.PagingDomain;
import org.dmashare.iova.IovaAllocator;
import org.dmashare.iova.IovaSpace;
import org.dmashare.it.rig.Rig;
import org.dmashare.pgtable.IoPageTable;
import org.dmashare.pgtable.PageTableWalker;
import org.dmashare.pgtable.TableLifetime;
import org.dmashare.sharing.DmaSharing;
import org.dmashare.sharing.PageLease;
import org.dmashare.sharing.ScatterList;
import org.dmashare.sharing.ShareOptions;
import org.dmashare.sharing.SharedBuffer;
import org.junit.jupiter.api.Test;

/**
 * Model-based (stateful) test of the helper: random sequences of allocate, late share, unshare,
 * close, import of lent pages (safe and unsafe), export of a live buffer with import of its pages
 * elsewhere, closing leases (owners, leases and importers closed in any order, the pages pinned
 * until the last holder closes) and device reads and writes, half of them with an IOVA quarantine
 * of two ranges per domain modelled as the helper documents it, on generic, DART and mixed domain
 * trios, over 4 KiB and (a quarter of the sequences) 16 KiB CPU pages, checked after every step against a reference model: the live buffers with their size,
 * alignment, rights, domains, IOVAs and the bytes last written.
 *
 * <p>After every step: the helper's live count and the page allocator's buffer bytes equal the
 * model's (the pages of every holder with a buffer or lease still open); every IOVA allocator
 * holds exactly the model's ranges (live mappings plus quarantined ranges); every valid leaf of every
 * domain, walked from the tables in memory, lies inside a live buffer's range and maps that
 * buffer's own byte (no over-exposure), and the leaves cover every mapped byte (contiguity).
 * Device reads return the model's bytes, and an IOVA just past a buffer, or one just unmapped,
 * faults. Refused steps must be refused with the predicted exception and change nothing. At the
 * end of each sequence everything is closed and the whole state equals the initial one.
 *
 * <p>Why not jqwik: the runner below is ~80 lines, replays a run from {@code -Ddmashare.test.seed},
 * scales with {@code -Ddmashare.test.scale} (CI: 2,000 sequences; scale 500: one million) or
 * {@code -Ddmashare.model.sequences}, and shrinks a failing sequence by delta debugging over its
 * actions; actions pick buffers and domains by index modulo what is live, so every sub-sequence is
 * still a valid sequence. {@link #shrinkingFindsTheMinimalFailingSequence} proves the shrinker.
 */
class ModelBasedSharingTest {

    static final String[][] SETS = {
        {"lpae-4k", "lpae-16k", "lpae-64k"},
        {"apple-dart:t8020", "apple-dart:t6000", "apple-dart:t8110"},
        {"apple-dart:t8020", "lpae-4k", "flat:flat-64k"}
    };
    static final String[] SET_NAMES = {"generic", "dart", "mixed"};
    static final int MAX_STEPS = 24;

    // ---- actions: plain data, generated from a seed, replayable and shrinkable ----

    sealed interface Action permits Alloc, Share, Unshare, Close, Import, Export, CloseLease, DeviceWrite, DeviceRead {}

    record Alloc(long size, int domainMask, boolean identical, boolean readOnly, boolean future) implements Action {
        @Override
        public String toString() {
            return "Alloc(" + Hex.of(size) + ", domains=" + Integer.toBinaryString(domainMask)
                    + (identical ? ", identical" : "") + (readOnly ? ", read-only" : "") + (future ? ", future" : "")
                    + ")";
        }
    }

    record Share(int pick, int domain) implements Action {}

    record Unshare(int pick, int domain) implements Action {}

    record Close(int pick) implements Action {}

    record Import(int segments, int unsafeSegment, int domainMask, boolean identical, boolean future)
            implements Action {}

    /** Lends a live buffer's pages ({@code export}) and imports all of them into the masked domains. */
    record Export(int pick, int domainMask, boolean keepLease) implements Action {}

    record CloseLease(int pick) implements Action {}

    record DeviceWrite(int pick, int domain, int offset, int length, int data) implements Action {}

    record DeviceRead(int pick, int domain, int offset, int length) implements Action {}

    static List<Action> generate(Random r) {
        int n = 1 + r.nextInt(MAX_STEPS);
        List<Action> actions = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int k = r.nextInt(100);
            int mask = 1 + r.nextInt(7);
            if (k < 25) {
                long size;
                int s = r.nextInt(20);
                if (s == 0) {
                    size = 0x20_0000 + 1 + r.nextInt(0x4000); // big enough for 2 MiB blocks
                } else if (s < 4) {
                    size = new long[] {1, 0x1000, 0x4000, 0x1_0000}[r.nextInt(4)];
                } else {
                    size = 1 + r.nextInt(0x4_0000);
                }
                actions.add(new Alloc(size, mask, r.nextInt(3) == 0, r.nextInt(6) == 0, r.nextInt(3) == 0));
            } else if (k < 31) {
                actions.add(new Import(
                        1 + r.nextInt(4),
                        r.nextInt(3) == 0 ? r.nextInt(4) : -1,
                        mask,
                        r.nextInt(3) == 0,
                        r.nextBoolean()));
            } else if (k < 36) {
                actions.add(new Export(r.nextInt(64), mask, r.nextBoolean()));
            } else if (k < 39) {
                actions.add(new CloseLease(r.nextInt(64)));
            } else if (k < 48) {
                actions.add(new Share(r.nextInt(64), r.nextInt(3)));
            } else if (k < 58) {
                actions.add(new Unshare(r.nextInt(64), r.nextInt(3)));
            } else if (k < 70) {
                actions.add(new Close(r.nextInt(64)));
            } else if (k < 85) {
                actions.add(new DeviceWrite(
                        r.nextInt(64), r.nextInt(3), r.nextInt(1 << 30), r.nextInt(1 << 30), r.nextInt()));
            } else {
                actions.add(new DeviceRead(r.nextInt(64), r.nextInt(3), r.nextInt(1 << 30), r.nextInt(1 << 30)));
            }
        }
        return actions;
    }

    // ---- the reference model ----

    static final class Buf {
        SharedBuffer buffer;
        long size;
        long length;
        long alignment;
        boolean readOnly;
        boolean identical;
        long identicalIova = -1;
        List<ScatterList.Segment> imported; // null when the helper owns the pages
        Group group; // the holder of the pages this buffer keeps a reference on
        final Map<Integer, Long> iovas = new TreeMap<>();
        byte[] data;

        @Override
        public String toString() {
            return "buffer " + Hex.size(length) + " at " + iovas;
        }
    }

    /** One holder's pages in the model: their bytes and how many buffers and leases hold them. */
    static final class Group {
        final List<ScatterList.Segment> blocks;
        final long bytes;
        int holders = 1;

        Group(List<ScatterList.Segment> blocks) {
            this.blocks = blocks;
            this.bytes = blocks.stream().mapToLong(ScatterList.Segment::length).sum();
        }
    }

    /** An open lease in the model. */
    record Lease(PageLease lease, Group group) {}

    static final class Stats {
        long sequences;
        long sequences16k;
        long steps;
        long refusals;
        long faultsExpected;
        long exports;
        long pinnedCloses;
        long quarantined;
        long dmaBytes;
        final long[] perSet = new long[SETS.length];
    }

    /** One execution of a sequence over a fresh rig. */
    static final class Run {
        final Rig rig;
        final DmaSharing sharing;
        final int quarantine;
        final List<ArrayDeque<IovaAllocator.Range>> quarantined = new ArrayList<>();
        final List<Buf> live = new ArrayList<>();
        final List<Lease> leases = new ArrayList<>();
        final Rig.State initial;
        final long initialBufferBytes;
        /** Per domain, its table pages at the last check: what a lifetime that never frees must still hold. */
        final List<Set<Long>> tablesSeen = new ArrayList<>();

        final List<IovaAllocator.Snapshot> initialIovas = new ArrayList<>();
        final Stats stats;
        final Consumer<Run> extraInvariant;

        Run(int set, int pageSize, int quarantine, Stats stats, Consumer<Run> extraInvariant) {
            this.rig = new Rig(64L << 20, pageSize, SETS[set]);
            this.quarantine = quarantine;
            this.sharing = quarantine == 0 ? rig.sharing : new DmaSharing(rig.memory, quarantine);
            for (int i = 0; i < 3; i++) {
                quarantined.add(new ArrayDeque<>());
            }
            this.initial = rig.state();
            this.initialBufferBytes = rig.memory.allocator().usage().bufferBytes();
            for (IommuDomain d : rig.domains) {
                initialIovas.add(d.iovaSpace().snapshot());
                tablesSeen.add(new HashSet<>(((PagingDomain) d).table().tablePages()));
            }
            this.stats = stats;
            this.extraInvariant = extraInvariant;
        }

        IommuDomain d(int i) {
            return rig.domain(i);
        }

        List<Integer> domainsOf(int mask) {
            List<Integer> out = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                if ((mask & (1 << i)) != 0) {
                    out.add(i);
                }
            }
            return out;
        }

        long alignmentFor(List<Integer> ds, boolean future) {
            long a = rig.memory.pageSize();
            for (int i = 0; i < 3; i++) {
                if (future || ds.contains(i)) {
                    a = Math.max(a, d(i).granule());
                }
            }
            return a;
        }

        ShareOptions options(List<Integer> ds, boolean identical, boolean readOnly, boolean future) {
            ShareOptions.Builder b =
                    ShareOptions.builder().identicalIova(identical).prot(readOnly ? Prot.READ : Prot.READ_WRITE);
            if (future) {
                List<IommuDomain> others = new ArrayList<>();
                for (int i = 0; i < 3; i++) {
                    if (!ds.contains(i)) {
                        others.add(d(i));
                    }
                }
                b.futureDomains(others.toArray(new IommuDomain[0]));
            }
            return b.build();
        }

        /** Expects {@code call} to be refused with exactly {@code type} and to change nothing. */
        void refused(Class<? extends Throwable> type, Runnable call) {
            Rig.State before = rig.state();
            Throwable thrown = null;
            try {
                call.run();
            } catch (Throwable t) {
                thrown = t;
            }
            assertThat(thrown).as("refusal expected").isExactlyInstanceOf(type);
            assertThat(rig.state())
                    .as("a refused call changes nothing (%s)", thrown.getMessage())
                    .isEqualTo(before);
            stats.refusals++;
        }

        /** Expects a device access to fault, and clears the fault log. */
        void faults(IommuDomain d, Runnable access) {
            Throwable thrown = null;
            try {
                access.run();
            } catch (Throwable t) {
                thrown = t;
            }
            assertThat(thrown).as("device access through %s must fault", d).isInstanceOf(DeviceFaultException.class);
            d.iommu().clearFaults();
            stats.faultsExpected++;
        }

        void registerMappings(Buf x, List<Integer> ds) {
            for (int i : ds) {
                long iova = x.buffer.iova(d(i));
                assertThat(iova % x.alignment)
                        .as("IOVA %s aligned to %s", Hex.of(iova), Hex.of(x.alignment))
                        .isZero();
                if (x.identical) {
                    if (x.identicalIova < 0) {
                        x.identicalIova = iova;
                    }
                    assertThat(iova).as("identical IOVA in every domain").isEqualTo(x.identicalIova);
                }
                x.iovas.put(i, iova);
            }
        }

        void step(Action a) {
            if (a instanceof Alloc al) {
                List<Integer> ds = domainsOf(al.domainMask());
                long alignment = alignmentFor(ds, al.future());
                List<IommuDomain> targets = ds.stream().map(this::d).toList();
                SharedBuffer b =
                        sharing.allocate(al.size(), targets, options(ds, al.identical(), al.readOnly(), al.future()));
                Buf x = new Buf();
                x.buffer = b;
                x.size = al.size();
                x.alignment = alignment;
                x.length = (al.size() + alignment - 1) & -alignment;
                x.readOnly = al.readOnly();
                x.identical = al.identical();
                x.group = new Group(b.blocks().segments());
                assertThat(b.alignment()).isEqualTo(alignment);
                assertThat(b.length()).isEqualTo(x.length);
                assertThat(b.ownsPages()).isTrue();
                for (ScatterList.Segment s : b.blocks()) {
                    assertThat(s.pa() % alignment).isZero();
                    assertThat(s.length() % alignment).isZero();
                }
                registerMappings(x, ds);
                x.data = b.read(0, (int) x.length);
                live.add(x);
            } else if (a instanceof Import im) {
                List<Integer> ds = domainsOf(im.domainMask());
                long alignment = alignmentFor(ds, im.future());
                List<ScatterList.Segment> held = new ArrayList<>();
                List<ScatterList.Segment> list = new ArrayList<>();
                int bad = alignment > rig.memory.pageSize() && im.unsafeSegment() >= 0
                        ? im.unsafeSegment() % im.segments()
                        : -1;
                PageLease lease = sharing.allocatePages(im.segments() * alignment, alignment);
                List<ScatterList.Segment> pieces = Rig.chop(lease, alignment);
                for (int i = 0; i < im.segments(); i++) {
                    long pa = pieces.get(im.segments() - 1 - i).pa(); // last piece first: the runs do not merge
                    held.add(new ScatterList.Segment(pa, alignment));
                    long page = rig.memory.pageSize();
                    list.add(
                            i != bad
                                    ? new ScatterList.Segment(pa, alignment)
                                    : i % 2 == 0
                                            ? new ScatterList.Segment(pa + page, alignment - page)
                                            : new ScatterList.Segment(pa, alignment - page));
                }
                ScatterList sg = ScatterList.of(list);
                ShareOptions opts = options(ds, im.identical(), false, im.future());
                List<IommuDomain> targets = ds.stream().map(this::d).toList();
                if (bad >= 0) {
                    Rig.State before = rig.state();
                    try {
                        sharing.importScatterList(lease, sg, targets, opts);
                        throw new AssertionError("unsafe scatter list " + sg + " was imported");
                    } catch (UnsafeScatterListException e) {
                        assertThat(e.segmentIndex())
                                .as("first bad segment named")
                                .isEqualTo(bad);
                        assertThat(e.getMessage()).contains("segment " + bad);
                    }
                    assertThat(rig.state()).isEqualTo(before);
                    stats.refusals++;
                    lease.close();
                    return;
                }
                SharedBuffer b = sharing.importScatterList(lease, sg, targets, opts);
                lease.close(); // the import holds the pages now
                Buf x = new Buf();
                x.buffer = b;
                x.size = sg.totalLength();
                x.length = sg.totalLength();
                x.alignment = alignment;
                x.identical = im.identical();
                x.imported = held;
                x.group = new Group(lease.pages().segments());
                assertThat(b.ownsPages()).isFalse();
                assertThat(b.length()).isEqualTo(x.length);
                registerMappings(x, ds);
                x.data = b.read(0, (int) x.length);
                live.add(x);
            } else if (a instanceof CloseLease cl) {
                if (leases.isEmpty()) {
                    return;
                }
                Lease l = leases.remove(cl.pick() % leases.size());
                l.lease().close();
                l.lease().close(); // twice is harmless
                release(l.group());
            } else if (live.isEmpty()) {
                return; // nothing to act on: a no-op step
            } else if (a instanceof Export ex) {
                Buf x = live.get(ex.pick() % live.size());
                List<Integer> ds = domainsOf(ex.domainMask());
                long alignment = alignmentFor(ds, false);
                List<IommuDomain> targets = ds.stream().map(this::d).toList();
                PageLease lease = x.buffer.export();
                x.group.holders++;
                ScatterList sg = x.buffer.blocks();
                int bad = -1;
                for (int i = 0; i < sg.size() && bad < 0; i++) {
                    ScatterList.Segment seg = sg.segments().get(i);
                    if (seg.pa() % alignment != 0 || seg.length() % alignment != 0) {
                        bad = i;
                    }
                }
                if (bad >= 0) {
                    Rig.State before = rig.state();
                    int index = bad;
                    try {
                        sharing.importScatterList(lease, sg, targets, ShareOptions.DEFAULTS);
                        throw new AssertionError(
                                "blocks " + sg + " not aligned to " + Hex.of(alignment) + " were imported");
                    } catch (UnsafeScatterListException e) {
                        assertThat(e.segmentIndex())
                                .as("first bad segment named")
                                .isEqualTo(index);
                    }
                    assertThat(rig.state()).isEqualTo(before);
                    stats.refusals++;
                } else {
                    SharedBuffer b = sharing.importScatterList(lease, sg, targets, ShareOptions.DEFAULTS);
                    Buf y = new Buf();
                    y.buffer = b;
                    y.size = sg.totalLength();
                    y.length = sg.totalLength();
                    y.alignment = alignment;
                    y.imported = sg.segments();
                    y.group = x.group;
                    x.group.holders++;
                    y.data = x.data; // the same bytes: a write through either is seen through both
                    assertThat(b.ownsPages()).isFalse();
                    registerMappings(y, ds);
                    assertThat(b.read(0, (int) y.length))
                            .as("the importer reads the owner's bytes")
                            .isEqualTo(x.data);
                    live.add(y);
                    stats.exports++;
                }
                if (ex.keepLease()) {
                    leases.add(new Lease(lease, x.group));
                } else {
                    lease.close();
                    release(x.group);
                }
            } else if (a instanceof Share sh) {
                Buf x = live.get(sh.pick() % live.size());
                IommuDomain d = d(sh.domain());
                if (x.iovas.containsKey(sh.domain())) {
                    refused(InvalidArgumentException.class, () -> x.buffer.shareWith(d));
                } else if (x.alignment % d.granule() != 0) {
                    refused(GranuleMismatchException.class, () -> x.buffer.shareWith(d));
                } else if (x.identical && identicalConflict(x, sh.domain())) {
                    refused(MappingConflictException.class, () -> x.buffer.shareWith(d));
                } else {
                    long iova = x.buffer.shareWith(d);
                    assertThat(x.buffer.iova(d)).isEqualTo(iova);
                    registerMappings(x, List.of(sh.domain()));
                }
            } else if (a instanceof Unshare un) {
                Buf x = live.get(un.pick() % live.size());
                IommuDomain d = d(un.domain());
                Long iova = x.iovas.get(un.domain());
                if (iova == null) {
                    refused(InvalidArgumentException.class, () -> x.buffer.unshare(d));
                } else {
                    x.buffer.unshare(d);
                    x.iovas.remove(un.domain());
                    freed(un.domain(), iova, x.length);
                    faults(d, () -> Rig.device(d).read(iova, 1));
                }
            } else if (a instanceof Close c) {
                Buf x = live.remove(c.pick() % live.size());
                x.buffer.close();
                x.buffer.close(); // twice is harmless
                for (Map.Entry<Integer, Long> m : x.iovas.entrySet()) {
                    IommuDomain d = d(m.getKey());
                    faults(d, () -> Rig.device(d).read(m.getValue(), 1));
                }
                for (Map.Entry<Integer, Long> m : x.iovas.entrySet()) {
                    freed(m.getKey(), m.getValue(), x.length);
                }
                release(x.group);
            } else if (a instanceof DeviceWrite w) {
                Buf x = live.get(w.pick() % live.size());
                if (x.iovas.isEmpty()) {
                    return;
                }
                List<Integer> mapped = new ArrayList<>(x.iovas.keySet());
                int di = mapped.get(w.domain() % mapped.size());
                IommuDomain d = d(di);
                int len = 1 + w.length() % (int) Math.min(x.length, 0x9000);
                int off = (int) (w.offset() % (x.length - len + 1));
                byte[] bytes = Rig.pattern(len, w.data());
                long iova = x.iovas.get(di) + off;
                if (x.readOnly) {
                    faults(d, () -> Rig.device(d).write(iova, bytes));
                    assertThat(x.buffer.read(0, (int) x.length))
                            .as("a refused device write writes nothing")
                            .isEqualTo(x.data);
                    return;
                }
                Rig.device(d).write(iova, bytes);
                System.arraycopy(bytes, 0, x.data, off, len);
                stats.dmaBytes += len;
                // every other device sees it (cross-device coherence through the tables)
                for (Map.Entry<Integer, Long> m : x.iovas.entrySet()) {
                    byte[] back = Rig.device(d(m.getKey())).read(m.getValue() + off, len);
                    assertThat(back)
                            .as("device of %s reads what device of %s wrote", d(m.getKey()), d)
                            .isEqualTo(bytes);
                    stats.dmaBytes += len;
                }
            } else if (a instanceof DeviceRead rd) {
                Buf x = live.get(rd.pick() % live.size());
                if (x.iovas.isEmpty()) {
                    return;
                }
                List<Integer> mapped = new ArrayList<>(x.iovas.keySet());
                int di = mapped.get(rd.domain() % mapped.size());
                IommuDomain d = d(di);
                int len = 1 + rd.length() % (int) Math.min(x.length, 0x9000);
                int off = (int) (rd.offset() % (x.length - len + 1));
                byte[] back = Rig.device(d).read(x.iovas.get(di) + off, len);
                assertThat(back)
                        .as("DMA read through %s at offset %s", d, Hex.of(off))
                        .isEqualTo(Arrays.copyOfRange(x.data, off, off + len));
                stats.dmaBytes += len;
                long past = x.iovas.get(di) + x.length;
                if (past < d.iovaSpace().end() && owner(di, past) == null) {
                    faults(d, () -> Rig.device(d).read(past, 1));
                }
                long before = x.iovas.get(di) - 1;
                if (before >= 0 && owner(di, before) == null) {
                    faults(d, () -> Rig.device(d).read(before, 1));
                }
            }
        }

        /** The model of the helper's IOVA quarantine: a freed range enters its domain's queue. */
        void freed(int di, long iova, long length) {
            if (quarantine == 0) {
                return;
            }
            ArrayDeque<IovaAllocator.Range> q = quarantined.get(di);
            q.addLast(new IovaAllocator.Range(iova, length));
            if (q.size() > quarantine) {
                q.pollFirst();
            }
            stats.quarantined++;
        }

        /** Drops one holder of {@code g}; the last one frees the pages, any other leaves them pinned. */
        void release(Group g) {
            g.holders--;
            for (ScatterList.Segment s : g.blocks) {
                if (g.holders == 0) {
                    assertThat(rig.memory.allocator().holding(s.pa()))
                            .as("the last holder of %s closed: pages free", s)
                            .isNull();
                } else {
                    assertThat(rig.memory.allocator().holding(s.pa()))
                            .as("%s still has %d holders: pages pinned", s, g.holders)
                            .isNotNull();
                }
            }
            if (g.holders > 0) {
                stats.pinnedCloses++;
            }
        }

        Buf owner(int di, long iova) {
            for (Buf b : live) {
                Long at = b.iovas.get(di);
                if (at != null && iova >= at && iova < at + b.length) {
                    return b;
                }
            }
            return null;
        }

        boolean identicalConflict(Buf x, int di) {
            IovaSpace alloc = d(di).iovaSpace();
            long start = x.identicalIova;
            long end = start + x.length;
            if (start < alloc.start() || end > alloc.end()) {
                return true;
            }
            for (Buf b : live) {
                Long at = b.iovas.get(di);
                if (at != null && at < end && start < at + b.length) {
                    return true;
                }
            }
            for (IovaAllocator.Range r : quarantined.get(di)) {
                if (r.start() < end && start < r.end()) {
                    return true;
                }
            }
            IovaAllocator.Snapshot init = initialIovas.get(di);
            for (List<IovaAllocator.Range> rs : List.of(init.allocated(), init.reserved())) {
                for (IovaAllocator.Range r : rs) {
                    if (r.start() < end && start < r.end()) {
                        return true;
                    }
                }
            }
            return false;
        }

        void checkInvariants() {
            assertThat(sharing.liveBuffers()).as("live buffers").isEqualTo(live.size());
            long expectedBuffer = initialBufferBytes;
            boolean anyMapping = false;
            Set<Group> held = Collections.newSetFromMap(new IdentityHashMap<>());
            for (Buf b : live) {
                held.add(b.group);
                anyMapping |= !b.iovas.isEmpty();
            }
            for (Lease l : leases) {
                held.add(l.group());
            }
            for (Group g : held) {
                assertThat(g.holders).as("a group in use has holders").isPositive();
                expectedBuffer += g.bytes;
            }
            assertThat(rig.memory.allocator().usage().bufferBytes())
                    .as("buffer page accounting")
                    .isEqualTo(expectedBuffer);
            // Table pages: every one belongs to a domain's tables (none leaked, mapped or not), and
            // a domain whose format keeps tables until the domain is freed never loses one.
            assertThat(rig.state().unaccountedTableBytes())
                    .as("table bytes no domain holds")
                    .isEqualTo(initial.unaccountedTableBytes());
            for (int di = 0; di < 3; di++) {
                IoPageTable table = ((PagingDomain) d(di)).table();
                Set<Long> now = new HashSet<>(table.tablePages());
                if (table.format().tableLifetime() == TableLifetime.UNTIL_FREED) {
                    assertThat(now)
                            .as("%s keeps every table until it is freed", d(di))
                            .containsAll(tablesSeen.get(di));
                }
                if (!anyMapping) {
                    assertThat(PageTableWalker.leaves(rig.memory, table.format(), table.rootPa(), table.topLevel()))
                            .as("tables kept in %s with nothing mapped map nothing", d(di))
                            .isEmpty();
                }
                tablesSeen.set(di, now);
            }
            for (int di = 0; di < 3; di++) {
                IommuDomain d = d(di);
                List<IovaAllocator.Range> expected =
                        new ArrayList<>(initialIovas.get(di).allocated());
                long mappedBytes = 0;
                for (Buf b : live) {
                    Long at = b.iovas.get(di);
                    if (at != null) {
                        expected.add(new IovaAllocator.Range(at, b.length));
                        mappedBytes += b.length;
                    }
                }
                expected.addAll(quarantined.get(di));
                assertThat(sharing.quarantinedRanges(d))
                        .as("quarantined ranges of %s", d)
                        .isEqualTo(quarantined.get(di).size());
                expected.sort((p, q) -> Long.compare(p.start(), q.start()));
                IovaAllocator.Snapshot snap = d.iovaSpace().snapshot();
                assertThat(snap.allocated()).as("IOVA ranges of %s", d).isEqualTo(expected);
                assertThat(snap.reserved()).isEqualTo(initialIovas.get(di).reserved());
                for (int i = 1; i < expected.size(); i++) {
                    assertThat(expected.get(i).start())
                            .as("no overlapping IOVA ranges in %s", d)
                            .isGreaterThanOrEqualTo(expected.get(i - 1).end());
                }
                long leafBytes = 0;
                for (Translation leaf : Rig.leaves(d)) {
                    Buf owner = owner(di, leaf.iova());
                    assertThat(owner)
                            .as("leaf %s in %s belongs to a live buffer (no over-exposure)", leaf, d)
                            .isNotNull();
                    long at = owner.iovas.get(di);
                    assertThat(leaf.iova() + leaf.pageSize())
                            .as("leaf %s ends inside its buffer", leaf)
                            .isLessThanOrEqualTo(at + owner.length);
                    long off = leaf.iova() - at;
                    assertThat(leaf.pa())
                            .as("leaf %s maps its buffer's own byte at offset %s", leaf, Hex.of(off))
                            .isEqualTo(owner.buffer.physicalAddress(off));
                    assertThat(leaf.pa() + leaf.pageSize() - 1)
                            .isEqualTo(owner.buffer.physicalAddress(off + leaf.pageSize() - 1));
                    assertThat(leaf.prot().write()).as("leaf %s rights", leaf).isEqualTo(!owner.readOnly);
                    leafBytes += leaf.pageSize();
                }
                assertThat(leafBytes)
                        .as("the leaves of %s cover every mapped byte (contiguity)", d)
                        .isEqualTo(mappedBytes);
                assertThat(d.iommu().faults())
                        .as("no unexpected fault on %s", d)
                        .isEmpty();
            }
            if (extraInvariant != null) {
                extraInvariant.accept(this);
            }
        }

        void finish() {
            for (Buf x : live) {
                for (Map.Entry<Integer, Long> m : x.iovas.entrySet()) {
                    int len = (int) Math.min(x.length, 0x4_0000);
                    byte[] back = Rig.device(d(m.getKey())).read(m.getValue(), len);
                    assertThat(back)
                            .as("final DMA read of %s through %s", x, d(m.getKey()))
                            .isEqualTo(Arrays.copyOf(x.data, len));
                    stats.dmaBytes += len;
                }
            }
            for (Buf x : List.copyOf(live)) {
                step(new Close(live.indexOf(x)));
            }
            while (!leases.isEmpty()) {
                step(new CloseLease(0));
            }
            sharing.drainIovaQuarantine();
            quarantined.forEach(ArrayDeque::clear);
            checkInvariants();
            assertThat(rig.state())
                    .as("everything closed: the state is the initial one")
                    .isEqualTo(initial);
        }
    }

    /** Runs one sequence on a fresh rig; returns the failure, or null if every check held. */
    static Throwable runSequence(
            int set, int pageSize, int quarantine, List<Action> actions, Stats stats, Consumer<Run> extraInvariant) {
        Run run = new Run(set, pageSize, quarantine, stats, extraInvariant);
        int i = 0;
        try {
            for (; i < actions.size(); i++) {
                run.step(actions.get(i));
                run.checkInvariants();
                stats.steps++;
            }
            run.finish();
            return null;
        } catch (Throwable t) {
            return new AssertionError(
                    "step " + i + (i < actions.size() ? " " + actions.get(i) : " (final close)") + ": " + t, t);
        }
    }

    /** Delta debugging: removes chunks of actions while the sequence still fails. */
    static List<Action> shrink(
            int set, int pageSize, int quarantine, List<Action> failing, Consumer<Run> extraInvariant) {
        List<Action> current = new ArrayList<>(failing);
        for (int chunk = Math.max(1, current.size() / 2); chunk >= 1; chunk = chunk == 1 ? 0 : chunk / 2) {
            boolean removed = true;
            while (removed) {
                removed = false;
                for (int start = 0; start < current.size(); start += chunk) {
                    List<Action> candidate = new ArrayList<>(current.subList(0, start));
                    candidate.addAll(current.subList(Math.min(current.size(), start + chunk), current.size()));
                    if (!candidate.isEmpty()
                            && runSequence(set, pageSize, quarantine, candidate, new Stats(), extraInvariant) != null) {
                        current = candidate;
                        removed = true;
                        break;
                    }
                }
            }
        }
        return current;
    }

    /** Runs {@code sequences} random sequences from {@code seed}; fails with the shrunk sequence. */
    static Stats campaign(long seed, long sequences, Consumer<Run> extraInvariant) {
        Stats stats = new Stats();
        Random master = new Random(seed);
        for (long s = 0; s < sequences; s++) {
            int set = (int) (s % SETS.length);
            int pageSize = (s / SETS.length) % 4 == 3 ? 16384 : 4096; // a quarter on 16 KiB CPU pages
            int quarantine = (s / (4 * SETS.length)) % 2 == 1 ? 2 : 0; // half with an IOVA quarantine of 2 ranges
            long sequenceSeed = master.nextLong();
            List<Action> actions = generate(new Random(sequenceSeed));
            long stepsBefore = stats.steps;
            Throwable failure = runSequence(set, pageSize, quarantine, actions, stats, extraInvariant);
            if (failure != null) {
                List<Action> minimal = shrink(set, pageSize, quarantine, actions, extraInvariant);
                Throwable minimalFailure = runSequence(set, pageSize, quarantine, minimal, new Stats(), extraInvariant);
                throw new ShrunkFailure(seed, s, set, pageSize, quarantine, actions, minimal, minimalFailure);
            }
            stats.sequences++;
            if (pageSize == 16384) {
                stats.sequences16k++;
            }
            stats.perSet[set] += stats.steps - stepsBefore;
        }
        return stats;
    }

    /** A failure with its original and minimal sequences. */
    static final class ShrunkFailure extends AssertionError {
        private static final long serialVersionUID = 1L;
        final transient List<Action> minimal;

        ShrunkFailure(
                long seed,
                long index,
                int set,
                int pageSize,
                int quarantine,
                List<Action> original,
                List<Action> minimal,
                Throwable cause) {
            super(
                    "model-based run failed on the " + SET_NAMES[set] + " trio " + Arrays.toString(SETS[set])
                            + " over " + pageSize / 1024 + " KiB CPU pages"
                            + (quarantine > 0 ? " with IOVA quarantine " + quarantine : "")
                            + " in sequence " + index + " of seed " + seed + " (replay with -Ddmashare.test.seed="
                            + seed + ")\n"
                            + "minimal failing sequence (" + minimal.size() + " of " + original.size() + " steps): "
                            + minimal
                            + "\nfailure: " + (cause == null ? "(did not reproduce)" : cause.getMessage()),
                    cause);
            this.minimal = minimal;
        }
    }

    static long sequences() {
        return Long.getLong("dmashare.model.sequences", 2_000L * Campaign.SCALE);
    }

    @Test
    void randomSequencesKeepEveryGuaranteeAgainstTheReferenceModel() {
        long seed = Campaign.seed("model-based");
        long sequences = sequences();
        long t0 = System.nanoTime();
        Stats stats = campaign(seed, sequences, null);
        Campaign.summary(
                "model-based",
                "%,d sequences (%,d over 16 KiB CPU pages), %,d steps (generic %,d, dart %,d, mixed %,d), %,d predicted"
                        + " refusals, %,d predicted device faults, %,d imports of an export, %,d closes of a holder that left"
                        + " the pages pinned, %,d ranges quarantined, %,d bytes of DMA checked, %.1f s",
                stats.sequences,
                stats.sequences16k,
                stats.steps,
                stats.perSet[0],
                stats.perSet[1],
                stats.perSet[2],
                stats.refusals,
                stats.faultsExpected,
                stats.exports,
                stats.pinnedCloses,
                stats.quarantined,
                stats.dmaBytes,
                (System.nanoTime() - t0) / 1e9);
        assertThat(stats.sequences).isEqualTo(sequences);
        assertThat(stats.refusals).as("the sequences exercise refusals").isPositive();
        assertThat(stats.exports).as("the sequences import exports").isPositive();
        assertThat(stats.pinnedCloses)
                .as("the sequences close holders while others pin the pages")
                .isPositive();
        assertThat(stats.quarantined).as("the sequences quarantine IOVA ranges").isPositive();
    }

    /**
     * The shrinker works: with a planted bug (the model forbids two live buffers at once) the
     * failing sequence shrinks to the two allocations that trigger it.
     */
    @Test
    void shrinkingFindsTheMinimalFailingSequence() {
        Consumer<Run> planted = run -> assertThat(run.live).as("planted bug").hasSizeLessThan(2);
        ShrunkFailure failure = null;
        try {
            campaign(42, 200, planted);
        } catch (ShrunkFailure f) {
            failure = f;
        }
        assertThat(failure).as("the planted bug is found").isNotNull();
        assertThat(failure.minimal).hasSize(2);
        assertThat(failure.minimal)
                .allSatisfy(a -> assertThat(a).isInstanceOfAny(Alloc.class, Import.class, Export.class));
        assertThat(failure.getMessage())
                .contains("minimal failing sequence (2 of")
                .contains("-Ddmashare.test.seed=42");
    }
}
