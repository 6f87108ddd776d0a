package org.dmashare.testkit;

import java.util.Arrays;
import java.util.Objects;
import org.dmashare.InvalidArgumentException;

/**
 * Every rule of the conformance kit, in one place: a stable ID ({@code MAP-3}) and a one-line
 * statement. The ID is derived from the constant's name ({@code MAP_3} is {@code MAP-3}); it
 * prefixes the check's display name and its failure messages, and the README's rule table lists
 * exactly these IDs (a test keeps them in step). IDs are never reused or renumbered: a rule that
 * goes away leaves a gap, a new rule takes the next number of its topic, a new topic a new prefix.
 *
 * <p>Each constant names the one check that proves it; a check of a rule that applies only to some
 * declarations ({@link Capabilities}) is generated only for those, so a run lists the rules it
 * checked and nothing as skipped.
 */
public enum KitRule {
    /** Checked by {@link DeclarationRules#memoryAndWidthsAgree()}. */
    DECL_1("the kit's memory lies within the unit's output width and the unit's input width matches its domains'"
            + " aperture"),
    /** Checked by {@link DeclarationRules#domainsReportDeclaredGeometry()}. */
    DECL_2("createDomain() makes a paging domain that reports the declared granule and page-size bitmap"),
    /** Checked by {@link DeclarationRules#unitHasOneDevicePerStream()}. */
    DECL_3("the unit has the streams asked for, one device per stream, every stream blocked, other stream IDs "
            + "refused"),
    /** Checked by {@link DeclarationRules#newUnitStartsEmpty()}. */
    DECL_4("a new unit has an empty fault log and IOTLB and translates to the memory it was created over"),
    /** Checked by {@link MapRules#mapTranslatesEveryGranule()}. */
    MAP_1("map makes every byte translate to its physical address and touches nothing outside its range"),
    /** Checked by {@link MapRules#iovaToPhysAgreesWithWalk()}. */
    MAP_2("iovaToPhys agrees with the hardware walk, mapped or not"),
    /** Checked by {@link MapRules#mapRefusesMisalignment()}. */
    MAP_3("map refuses a misaligned IOVA, physical address or size and changes nothing"),
    /** Checked by {@link MapRules#mapRefusesPhysicalRangeOutsideMemory()}. */
    MAP_4("map refuses a physical range outside memory and changes nothing"),
    /** Checked by {@link MapRules#mapRefusesNoAccessRights()}. */
    MAP_5("map refuses rights that allow neither read nor write and changes nothing"),
    /** Checked by {@link MapRules#mapRefusesOverlap()}. */
    MAP_6("map fails on any overlap with an existing valid entry and changes nothing"),
    /** Checked by {@link MapRules#everyPageSizeMapsAsOneLeaf()}. */
    MAP_7("every declared page size that fits is mapped as one leaf of that size, at the bottom and the top of "
            + "the aperture"),
    /** Checked by {@link MapRules#mapUsesBlockLeaves()}. Checked only where the backend declares block mappings. */
    MAP_8("with block mappings, map uses the largest leaf that alignment and length allow"),
    /**
     * Checked by {@link MapRules#mapUsesGranulePagesWithoutBlocks()}. Checked only where the backend
     * declares no block mappings.
     */
    MAP_9("without block mappings, map uses granule pages even where a block would fit"),
    /**
     * Checked by {@link MapRules#straddlingRangeGetsBlockInside()}. Checked only where the backend
     * declares block mappings.
     */
    MAP_10("with block mappings, a range straddling a block gets granule pages at the edges and the block inside"),
    /**
     * Checked by {@link MapRules#straddlingRangeGetsGranulePagesWithoutBlocks()}. Checked only where the
     * backend declares no block mappings.
     */
    MAP_11("without block mappings, a range straddling a would-be block gets granule pages throughout"),
    /** Checked by {@link MapRules#granuleAlignedRangeGetsGranulePages()}. */
    MAP_12("a range aligned only to the granule is mapped with granule pages"),
    /** Checked by {@link MapRules#walkReportsGrantedRights()}. */
    MAP_13("the walk reports the rights the mapping granted: READ_WRITE allows both, READ forbids writes"),
    /** Checked by {@link MapRules#randomMapsAgreeWithModel()}. */
    MAP_14("random maps and unmaps agree at every step with a reference model of these rules (seed printed)"),
    /** Checked by {@link UnmapRules#unmapReturnsBytesUnmapped()}. */
    UNMAP_1("unmap returns the bytes unmapped and removes the translations"),
    /** Checked by {@link UnmapRules#unmapSkipsHoles()}. */
    UNMAP_2("unmap skips holes and counts only the bytes that were mapped; unmap of an empty range returns 0"),
    /** Checked by {@link UnmapRules#unmapOfOnePageKeepsNeighbours()}. */
    UNMAP_3("unmap of one granule page of a page run leaves its neighbours mapped"),
    /**
     * Checked by {@link UnmapRules#unmapRefusesToCutBlock()}. Checked only where the backend declares
     * block mappings and the REFUSE_CUT unmap policy.
     */
    UNMAP_4("with block mappings and REFUSE_CUT, an unmap that cuts a block is refused and changes nothing"),
    /**
     * Checked by {@link UnmapRules#unmapFromBlockStartRemovesWholeBlock()}. Checked only where the backend
     * declares block mappings and the WHOLE_ENTRY_FROM_START unmap policy.
     */
    UNMAP_5("with block mappings and WHOLE_ENTRY_FROM_START, an unmap starting inside a block is refused and one "
            + "starting at its first byte removes it whole"),
    /**
     * Checked by {@link UnmapRules#unmapCutsPageRunWithoutBlocks()}. Checked only where the backend
     * declares no block mappings.
     */
    UNMAP_6("without block mappings, unmap of one granule from the middle of a block-sized range succeeds and "
            + "leaves the rest"),
    /** Checked by {@link UnmapRules#unmapRefusesMisalignment()}. */
    UNMAP_7("unmap refuses a misaligned IOVA or size and changes nothing"),
    /** Checked by {@link ApertureRules#mapRefusesOutsideAperture()}. */
    APERTURE_1("map refuses ranges outside the aperture and changes nothing"),
    /** Checked by {@link ApertureRules#mapAcceptsApertureEdges()}. */
    APERTURE_2("the first and the last granule of the aperture can be mapped"),
    /** Checked by {@link ApertureRules#iovaAllocatorStaysInAperture()}. */
    APERTURE_3("the IOVA allocator works in granules, stays inside the aperture and never hands out IOVA 0"),
    /**
     * Checked by {@link ApertureRules#accessBeyondInputSizeFaults()}. Checked only where the unit's input
     * size leaves IOVAs beyond it (below 63 bits).
     */
    APERTURE_4("an access beyond the input size faults with ADDRESS_SIZE or TRANSLATION"),
    /** Checked by {@link ProtectionRules#dmaReachesExactlyMappedBytes()}. */
    PROT_1("device DMA reaches exactly the mapped bytes and a permitted access logs no fault"),
    /** Checked by {@link ProtectionRules#writeToReadOnlyFaults()}. */
    PROT_2("a device write to a read-only mapping faults with PERMISSION and writes nothing"),
    /**
     * Checked by {@link ProtectionRules#readOfWriteOnlyFaults()}. Checked only where the backend declares
     * write-only mappings.
     */
    PROT_3("with write-only mappings, a device read of a write-only mapping faults with PERMISSION"),
    /**
     * Checked by {@link ProtectionRules#writeOnlyRefusedWithoutIt()}. Checked only where the backend
     * declares no write-only mappings.
     */
    PROT_4("without write-only mappings, map refuses Prot.WRITE instead of granting reads"),
    /** Checked by {@link ProtectionRules#unmappedAccessFaults()}. */
    PROT_5("an access to an unmapped IOVA faults with TRANSLATION and is logged, oldest first"),
    /** Checked by {@link ProtectionRules#clearFaultsEmptiesLog()}. */
    PROT_6("clearFaults empties the fault log"),
    /** Checked by {@link ProtectionRules#detachedStreamIsBlocked()}. */
    PROT_7("a detached stream blocks every access with BLOCKED, even one cached in the IOTLB"),
    /** Checked by {@link ProtectionRules#blockedDomainFaults()}. */
    PROT_8("a stream attached to a blocked domain faults every access with BLOCKED"),
    /**
     * Checked by {@link ProtectionRules#accessOutsideSubPageWindowFaults()}. Checked only where the
     * backend declares sub-page protection.
     */
    PROT_9("with sub-page protection, an access outside the sub-page window faults with SUBPAGE"),
    /**
     * Checked by {@link ProtectionRules#noSubPageWindowWithoutIt()}. Checked only where the backend
     * declares no sub-page protection.
     */
    PROT_10("without sub-page protection, no leaf has a sub-page window and devices reach the whole page"),
    /** Checked by {@link IotlbRules#unmapStaysStaleUntilFlush()}. */
    IOTLB_1("after unmap without flush a cached translation stays usable; after flushIotlb the device faults"),
    /** Checked by {@link IotlbRules#syncMapReachesNewMapping()}. */
    IOTLB_2("after map and syncMap a device reaches the new mapping, even where it faulted just before"),
    /** Checked by {@link IotlbRules#remapStaysStaleUntilFlush()}. */
    IOTLB_3("after a remap without flush a device still reaches the old page; after flushIotlb the new one"),
    /** Checked by {@link IotlbRules#flushEmptiesDomainEntries()}. */
    IOTLB_4("flushIotlb invalidates every IOTLB entry of the domain's streams"),
    /** Checked by {@link IotlbRules#attachInvalidatesStream()}. */
    IOTLB_5("attach moves the device and invalidates its stream's IOTLB entries"),
    /** Checked by {@link DomainProtocolRules#domainMapIsReachableWhenItReturns()}. */
    PROTO_1("a domain-level map (IommuApi.map) is reachable when it returns, even where the device just faulted"),
    /** Checked by {@link DomainProtocolRules#noSyncPiecesAreReachableAfterOneSyncMap()}. */
    PROTO_2("pieces mapped with IommuApi.mapNoSync are reachable after one syncMap over their span"),
    /** Checked by {@link DomainProtocolRules#domainUnmapLeavesNoStaleTranslation()}. */
    PROTO_3("a domain-level unmap (IommuApi.unmap) reports the bytes unmapped and leaves no stale translation"),
    /** Checked by {@link DomainProtocolRules#unmapFastIsStaleUntilTheGatherIsSynced()}. */
    PROTO_4("ranges removed with IommuApi.unmapFast stay cached until the gather's iotlbSync, then none is reachable"),
    /** Checked by {@link DomainProtocolRules#syncOfAnEmptyGatherLeavesTheIotlbAlone()}. */
    PROTO_5("syncing a gather that collected nothing leaves the IOTLB as it is"),
    /** Checked by {@link TablePageRules#tablesComeFromAllocator()}. */
    TABLE_1("page tables are allocated from the memory's page allocator as PAGE_TABLE"),
    /** Checked by {@link TablePageRules#closeReturnsEveryTablePage()}. */
    TABLE_2("closing a domain (twice is harmless) detaches its devices and returns every table page"),
    /** Checked by {@link TablePageRules#tablesLiveAsDeclared()}. */
    TABLE_3("unmap frees tables as the declared table lifetime says: an emptied table stays and is reused, a whole"
            + " covered range frees it per lifetime, a block replaces a kept empty table"),
    /** Checked by {@link TablePageRules#failedMapChangesNothing()}. */
    TABLE_4("a map that fails partway (injected table-page or map failure) changes nothing"),
    /** Checked by {@link TablePageRules#closedDomainRefusesUse()}. */
    TABLE_5("a closed domain refuses map, unmap and attach"),
    /**
     * Checked by {@link StreamRules#domainsIsolateStreams()}. Checked only where the backend declares at
     * least two streams.
     */
    STREAM_1("streams in different domains walk their own tables and are isolated, flushes included"),
    /**
     * Checked by {@link StreamRules#streamsSharingDomainSeeSameMemory()}. Checked only where the backend
     * declares at least two streams.
     */
    STREAM_2("streams sharing a domain see the same translations and one flush invalidates both"),
    /** Checked by {@link StreamRules#attachToForeignDomainRefused()}. */
    STREAM_3("attach to a domain of another unit is refused and changes nothing"),
    /** Checked by {@link StreamRules#identityDomainPassesThrough()}. Checked only where the backend declares bypass. */
    STREAM_4("with bypass, an identity domain translates every address to itself"),
    /**
     * Checked by {@link StreamRules#identityDomainRefusedWithoutBypass()}. Checked only where the backend
     * declares no bypass.
     */
    STREAM_5("without bypass, createDomain(IDENTITY) is refused"),
    /** Checked by {@link ConcurrencyRules#disjointMapsFromThreadsLand()}. */
    CONC_1("disjoint maps and unmaps from several threads all land and leak no table page"),
    /** Checked by {@link ConcurrencyRules#helperIsThreadSafe()}. */
    CONC_2("shared buffers may be allocated, used and closed from many threads, leaking nothing"),
    /** Checked by {@link HelperRules#bufferIsContiguousAlignedAndContained()}. */
    HELPER_1("a shared buffer is contiguous, aligned and not over-exposed in every domain"),
    /** Checked by {@link HelperRules#devicesSeeEachOthersWrites()}. */
    HELPER_2("devices on both domains and the CPU see each other's writes"),
    /** Checked by {@link HelperRules#closeLeavesNothingReachable()}. */
    HELPER_3("closing a buffer unmaps and flushes every domain and returns its pages"),
    /** Checked by {@link HelperRules#failedAllocationChangesNothing()}. */
    HELPER_4("an allocation failing at any injected point leaves every domain and allocator as before"),
    /** Checked by {@link HelperRules#failedShareOrImportChangesNothing()}. */
    HELPER_5("late sharing and import failing at any injected point leave every domain and allocator as before"),
    /** Checked by {@link HelperRules#lateSharingIsContiguous()}. */
    HELPER_6("late sharing into a domain whose granule divides A maps the buffer contiguously; unshare unmaps it"),
    /** Checked by {@link HelperRules#identicalIovaIsOneIova()}. */
    HELPER_7("a buffer asked for identical IOVA has one IOVA in every domain"),
    /** Checked by {@link HelperRules#importRefusesMisalignedSegment()}. */
    HELPER_8("import refuses a segment not aligned to A, names it and maps nothing"),
    /** Checked by {@link MixedRules#sharedWithGenericIsContiguous()}. */
    MIXED_1("a buffer shared with generic lpae-4k and lpae-64k domains is contiguous, aligned and not over-"
            + "exposed in all"),
    /**
     * Checked by {@link MixedRules#lateSharingIntoLargerGranuleRefused()}. Checked only where a generic
     * partner (4 KiB or 64 KiB granule) has a granule larger than this backend's and the CPU page.
     */
    MIXED_2("late sharing into a domain with a larger granule is refused naming both sizes, mapping nothing"),
    /** Checked by {@link MixedRules#futureDomainMakesLateSharingWork()}. */
    MIXED_3("a buffer allocated for a declared future domain can be shared with it later"),
    /** Checked by {@link MixedRules#closingMixedBufferLeavesNothing()}. */
    MIXED_4("closing a mixed buffer leaves nothing reachable in either backend and returns the pages");

    private final String statement;

    KitRule(String statement) {
        this.statement = statement;
    }

    /**
     * The rule's stable ID, such as {@code MAP-3}.
     *
     * @return the ID: the topic prefix, a hyphen and the rule's number within the topic
     */
    public String id() {
        return name().replace('_', '-');
    }

    /**
     * What the rule requires of a backend, in one line.
     *
     * @return the statement
     */
    public String statement() {
        return statement;
    }

    /**
     * The name a check of this rule is reported under: the ID, a space and the statement.
     *
     * @return the display name
     */
    public String displayName() {
        return id() + " " + statement;
    }

    /**
     * The rule with an ID.
     *
     * @param id an ID such as {@code MAP-3}
     * @return the rule
     * @throws NullPointerException if {@code id} is null
     * @throws InvalidArgumentException if no rule has that ID; the message lists the
     *     accepted form
     */
    public static KitRule byId(String id) {
        Objects.requireNonNull(id, "id");
        return Arrays.stream(values())
                .filter(r -> r.id().equals(id))
                .findFirst()
                .orElseThrow(() -> new InvalidArgumentException("no kit rule has the ID '" + id
                        + "': IDs are a topic prefix, a hyphen and a number, from " + values()[0].id() + " to "
                        + values()[values().length - 1].id()));
    }
}
