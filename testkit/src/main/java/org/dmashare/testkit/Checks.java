package org.dmashare.testkit;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Names the rule a kit check proves. The kit reads it for the check's display name (the rule's ID
 * and statement) and to prefix the check's failure messages with the ID; every {@link KitRule} is
 * named by exactly one check.
 */
@Documented
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
public @interface Checks {
    /**
     * The rule.
     *
     * @return the rule this check proves
     */
    KitRule value();
}
