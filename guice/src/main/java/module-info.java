/**
 * Optional Google Guice wiring for dmashare: {@link org.dmashare.inject.DmaShareModule} binds the
 * discovered IOMMU backends, the memory model and the sharing helper.
 */
module org.dmashare.inject {
    requires transitive org.dmashare.api;
    requires transitive com.google.guice;

    exports org.dmashare.inject;

    // Guice calls the module's package-private @Provides method reflectively when it does not
    // generate bytecode for it.
    opens org.dmashare.inject to
            com.google.guice;
}
